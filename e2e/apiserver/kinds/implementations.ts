/** The custom resources whose validation this server implements, by "<crd name>/<version>". */
import {
  CLUSTER_NETWORK_POLICY_CRD_NAME,
  CLUSTER_NETWORK_POLICY_IMPLEMENTATION,
  CLUSTER_NETWORK_POLICY_VERSION,
} from './cluster-network-policy';
import type { CustomResourceImplementations } from './custom-resource-definitions';

export const CUSTOM_RESOURCE_IMPLEMENTATIONS: CustomResourceImplementations = new Map([
  [
    `${CLUSTER_NETWORK_POLICY_CRD_NAME}/${CLUSTER_NETWORK_POLICY_VERSION}`,
    CLUSTER_NETWORK_POLICY_IMPLEMENTATION,
  ],
]);

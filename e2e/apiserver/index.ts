/**
 * The Kubernetes-API-compatible test server: public surface. See server.ts for the design and
 * README.md for what is served and what is not.
 */
export { startApiServer, TestApiServer } from './server';
export type { ApiServerOptions, KindName, ObjectRef, RequestRecord } from './server';
export type { FaultRule } from './faults';
export type { ServerVersion } from './discovery';
export { ApiError } from './errors';
export type { Status } from './errors';
export type { KubeObject, ObjectMeta } from './types';
export { writeKubeconfig, kubeconfigYaml } from './kubeconfig';
export type { KubeconfigOptions } from './kubeconfig';
export { parseObjects, readObjectsFile, writeStateFile } from './state-file';
export { selfSignedCertificate } from './tls';
export type { TlsMaterial } from './tls';
export type { ExecBackend, ExecRequest } from './exec/exec-process';
export { CLUSTER_NETWORK_POLICY_CRD, CLUSTER_NETWORK_POLICY_CRD_NAME } from './kinds/cluster-network-policy';

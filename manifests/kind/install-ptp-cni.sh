#!/usr/bin/env bash
# Gives a kind cluster created with `disableDefaultCNI: true` (manifests/kind/cluster.yaml) a pod
# network that enforces no NetworkPolicy, so that everything enforced is Palisade's doing.
#
# Why not kind's default CNI: since kind v0.24.0, kindnetd embeds kube-network-policies and
# enforces NetworkPolicy itself. Why not flannel: it delegates to the `bridge` CNI plugin, which
# kind's node images do not ship. This script uses only what every kind node image has in
# /opt/cni/bin (ptp, host-local, portmap, loopback) — the layout kindnet itself used before it
# grew policy support:
#   - each node: a ptp conflist allocating pod addresses from the node's spec.podCIDR, so pod
#     traffic is routed (not bridged) through the node's FORWARD chain, where Palisade's rules are;
#   - each node: a route to every other node's podCIDR via that node's address (the kind nodes
#     share one docker network, so one hop reaches any of them);
#   - each node: masquerade for pod traffic leaving the pod network, and only for that, so
#     pod-to-pod traffic keeps its source address (which NetworkPolicy matching depends on).
#
# Usage: install-ptp-cni.sh CLUSTER_NAME     (needs docker, kind and kubectl on PATH)
set -euo pipefail

cluster=${1:?usage: install-ptp-cni.sh CLUSTER_NAME}
context="kind-${cluster}"
kc=(kubectl --context "$context")
conflist=/etc/cni/net.d/10-palisade-ptp.conflist

mapfile -t nodes < <(kind get nodes --name "$cluster")
[ "${#nodes[@]}" -gt 0 ] || { echo "kind cluster '$cluster' has no nodes" >&2; exit 1; }

# The cluster-wide pod range, as kubeadm was configured (kind writes it from networking.podSubnet).
pod_subnet=$("${kc[@]}" -n kube-system get configmap kubeadm-config \
  -o jsonpath='{.data.ClusterConfiguration}' | sed -n 's/^ *podSubnet: *//p' | head -n1)
[ -n "$pod_subnet" ] || { echo "cannot read podSubnet from kube-system/kubeadm-config" >&2; exit 1; }

for node in "${nodes[@]}"; do
  for plugin in ptp host-local portmap loopback; do
    docker exec "$node" test -x "/opt/cni/bin/$plugin" || {
      echo "node $node has no /opt/cni/bin/$plugin; this kind node image cannot run the ptp network" >&2
      echo "(see docs/deploy.md, 'Pod network', for the flannel alternative)" >&2
      exit 1
    }
  done
done

# kube-controller-manager assigns each node a podCIDR shortly after it registers.
declare -A cidr_of ip_of
for node in "${nodes[@]}"; do
  for _ in $(seq 1 60); do
    cidr=$("${kc[@]}" get node "$node" -o jsonpath='{.spec.podCIDR}' 2>/dev/null || true)
    [ -n "$cidr" ] && break
    sleep 2
  done
  [ -n "$cidr" ] || { echo "node $node has no spec.podCIDR after 120s" >&2; exit 1; }
  cidr_of[$node]=$cidr
  ip_of[$node]=$("${kc[@]}" get node "$node" \
    -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
  [ -n "${ip_of[$node]}" ] || { echo "node $node has no InternalIP" >&2; exit 1; }
done

for node in "${nodes[@]}"; do
  echo "node $node: pods ${cidr_of[$node]}, address ${ip_of[$node]}"
  for peer in "${nodes[@]}"; do
    [ "$peer" = "$node" ] && continue
    docker exec "$node" ip route replace "${cidr_of[$peer]}" via "${ip_of[$peer]}"
  done
  docker exec "$node" sysctl -qw net.ipv4.ip_forward=1
  # -C first keeps the rule single when the script is run again.
  masq=(-s "$pod_subnet" ! -d "$pod_subnet"
    -m comment --comment "kind pod network: masquerade pod egress" -j MASQUERADE)
  docker exec "$node" iptables -t nat -C POSTROUTING "${masq[@]}" 2>/dev/null \
    || docker exec "$node" iptables -t nat -A POSTROUTING "${masq[@]}"
  # Written last: the kubelet reports the node Ready as soon as a CNI config appears.
  docker exec -i "$node" sh -c "cat > $conflist.tmp && mv $conflist.tmp $conflist" <<EOF
{
  "cniVersion": "0.3.1",
  "name": "palisade-ptp",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "mtu": 1500,
      "ipam": {
        "type": "host-local",
        "dataDir": "/run/cni-ipam-state",
        "ranges": [[{ "subnet": "${cidr_of[$node]}" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
done

"${kc[@]}" wait --for=condition=Ready nodes --all --timeout=180s

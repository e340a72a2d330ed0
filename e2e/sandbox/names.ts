/**
 * Names of everything a sandbox creates. Every namespace starts with `ps<id>-` and every link
 * the sandbox names starts with `ps<id>` (the pod- and node-side `eth0` exist only inside their
 * own namespaces), so one predicate tells what belongs to a sandbox and two sandboxes never
 * collide. Interface names stay within the kernel's 15 characters.
 */
import type { SandboxPlan } from './plan';

/** Sandbox ids: 4 characters of [a-z0-9]. */
export const SANDBOX_ID_PATTERN = /^[a-z0-9]{4}$/;
const IFNAMSIZ = 15;

export function newSandboxId(random: () => number = Math.random): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let id = '';
  for (let i = 0; i < 4; i++) id += alphabet[Math.floor(random() * alphabet.length)];
  return id;
}

export function namespacePrefix(id: string): string {
  return `ps${id}-`;
}

/** True when `netns` is a namespace of sandbox `id`. */
export function isSandboxNamespace(id: string, netns: string): boolean {
  return netns.startsWith(namespacePrefix(id));
}

/** Sandbox id of any sandbox namespace name, or undefined. */
export function sandboxIdOfNamespace(netns: string): string | undefined {
  const m = /^ps([a-z0-9]{4})-/.exec(netns);
  return m ? m[1] : undefined;
}

/** The environment marker every process the sandbox starts carries (found again by /proc scan). */
export const SANDBOX_ENV_MARKER = 'PALISADE_SANDBOX_ID';

export interface SandboxNames {
  readonly id: string;
  readonly fabricNs: string;
  /** Bridge in the fabric namespace joining nodes and external hosts. */
  readonly fabricBridge: string;
  nodeNs(node: string): string;
  /** Fabric-side end of a node's uplink (the node-side end is `eth0`). */
  nodeUplink(node: string): string;
  externalNs(ip: string): string;
  externalUplink(ip: string): string;
}

/**
 * The network namespace of a live pod: readable (`ps<id>-pod-<namespace>.<name>`) plus the
 * first 8 hex digits of its uid, so a pod deleted and created again under the same name (a
 * StatefulSet's) never meets its predecessor's namespace. Derived from the pod alone, so the
 * API server (exec) and the sandbox (probes) find it without asking the kubelet.
 */
export function livePodNetns(id: string, namespace: string, name: string, uid: string): string {
  const tag = uid.replace(/-/g, '').slice(0, 8);
  const readable = `${namespacePrefix(id)}pod-${safe(`${namespace}.${name}`)}`;
  return `${readable.length <= 90 ? readable : readable.slice(0, 90)}-${tag}`;
}

/**
 * A kept pod network namespace of a live node (live/pod-slots.ts), `ps<id>-slot-<node #>-<n>`:
 * the namespace a pod gets, under its own name (livePodNetns) too while the pod has it.
 */
export function livePodSlotNetns(id: string, nodeNumber: number, n: number): string {
  return `${namespacePrefix(id)}slot-${nodeNumber}-${n}`;
}

/** The node-side end of a slot's veth: `ps<id>v` + the node's number and the slot's, 8 base-36 digits. */
export function livePodSlotHostIf(id: string, nodeNumber: number, n: number): string {
  const tail = `${nodeNumber.toString(36)}-${n.toString(36)}`;
  if (tail.length > 8) throw new Error(`slot ${n} of node ${nodeNumber}: too many for an interface name`);
  return checkIfName(`ps${id}v${tail.padStart(8, '0')}`);
}

function safe(text: string): string {
  return text.replace(/[^A-Za-z0-9_.-]/g, '_');
}

function checkIfName(name: string): string {
  if (name.length > IFNAMSIZ) throw new Error(`interface name ${name} is longer than ${IFNAMSIZ} characters`);
  return name;
}

/**
 * Namespace names are readable: `ps<id>-fabric`, `ps<id>-node-<node>`, `ps<id>-ext-<ip>`, and
 * for pods (made by the kubelet, see livePodNetns) `ps<id>-pod-<ns>.<pod>-<uid prefix>`
 * (namespace names have no dots, so the first dot splits them), a second name of the kept
 * namespace `ps<id>-slot-<node #>-<n>` the pod has (livePodSlotNetns); link names are indexed
 * (`ps<id>n2`, `ps<id>x1`) or, for pods' slots, numbered (`ps<id>v…`).
 */
export function sandboxNames(id: string, plan: SandboxPlan): SandboxNames {
  const prefix = namespacePrefix(id);
  const nodeIndex = new Map(plan.nodes.map((n, i) => [n.name, i + 1]));
  const extIndex = new Map(plan.externals.map((ip, i) => [ip, i + 1]));
  const index = (m: Map<string, number>, k: string, what: string): number => {
    const i = m.get(k);
    if (i === undefined) throw new Error(`${what} ${k} is not in the sandbox plan`);
    return i;
  };
  const cap = (name: string, i: number, tag: string): string =>
    name.length <= 80 ? name : `${name.slice(0, 70)}~${tag}${i}`;
  return {
    id,
    fabricNs: `${prefix}fabric`,
    fabricBridge: checkIfName(`ps${id}fab`),
    nodeNs: (node) => cap(`${prefix}node-${safe(node)}`, index(nodeIndex, node, 'node'), 'n'),
    nodeUplink: (node) => checkIfName(`ps${id}n${index(nodeIndex, node, 'node')}`),
    externalNs: (ip) => `${prefix}ext-${safe(ip.replace(/:/g, '-'))}`,
    externalUplink: (ip) => checkIfName(`ps${id}x${index(extIndex, ip, 'external')}`),
  };
}

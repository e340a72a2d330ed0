/**
 * Compilation: where the agent's model lives and how it becomes a CompiledState.
 *
 * The watch handlers write the model through the ModelSink methods; the runner calls
 * `compile()` once per apply; the debug endpoint reads `view()`. Two strategies, chosen by
 * --sync-mode:
 *   - incremental: one IncrementalCompiler holds the model and updates the compiled state event
 *     by event; compile() is flush(), whose delta names only what changed.
 *   - full (the baseline): the model is plain maps; compile() compiles a snapshot from scratch
 *     and returns a full delta, so the dataplane re-renders everything.
 */
import {
  IncrementalCompiler,
  compileSnapshot,
  objectKey,
  type ClusterPolicyInfo,
  type CompileDelta,
  type CompiledState,
  type NamespaceInfo,
  type NodeInfo,
  type ObjectKey,
  type PodInfo,
  type PolicyInfo,
} from '../../compiler';
import type { SyncMode } from './config';

/** The write side of the model, as the watch handlers use it. */
export interface ModelSink {
  upsertNamespace(ns: NamespaceInfo): void;
  deleteNamespace(name: string): void;
  upsertPod(pod: PodInfo): void;
  deletePod(key: ObjectKey): void;
  upsertPolicy(p: PolicyInfo): void;
  deletePolicy(key: ObjectKey): void;
  upsertClusterPolicy(p: ClusterPolicyInfo): void;
  deleteClusterPolicy(name: string): void;
  upsertNode(n: NodeInfo): void;
  deleteNode(name: string): void;
}

/** The read side: the compiler's view plus iteration over the model. */
export type ModelView = Pick<
  IncrementalCompiler,
  | 'state'
  | 'pod'
  | 'podByIP'
  | 'namespace'
  | 'policy'
  | 'clusterPolicy'
  | 'node'
  | 'pods'
  | 'namespaces'
  | 'policies'
  | 'clusterPolicies'
  | 'nodes'
>;

export interface Compilation extends ModelSink {
  /** Brings the compiled state up to date and says what changed since the previous call. */
  compile(): { state: CompiledState; delta: CompileDelta };
  /** The model and the compiled state as of the last compile() (or the live model, incremental). */
  view(): ModelView;
}

export function createCompilation(mode: SyncMode, nodeName: string): Compilation {
  return mode === 'full' ? new FullCompilation(nodeName) : new IncrementalCompilation(nodeName);
}

class IncrementalCompilation implements Compilation {
  private readonly compiler: IncrementalCompiler;

  constructor(nodeName: string) {
    this.compiler = new IncrementalCompiler({ nodeName });
  }

  upsertNamespace(ns: NamespaceInfo): void {
    this.compiler.upsertNamespace(ns);
  }
  deleteNamespace(name: string): void {
    this.compiler.deleteNamespace(name);
  }
  upsertPod(pod: PodInfo): void {
    this.compiler.upsertPod(pod);
  }
  deletePod(key: ObjectKey): void {
    this.compiler.deletePod(key);
  }
  upsertPolicy(p: PolicyInfo): void {
    this.compiler.upsertPolicy(p);
  }
  deletePolicy(key: ObjectKey): void {
    this.compiler.deletePolicy(key);
  }
  upsertClusterPolicy(p: ClusterPolicyInfo): void {
    this.compiler.upsertClusterPolicy(p);
  }
  deleteClusterPolicy(name: string): void {
    this.compiler.deleteClusterPolicy(name);
  }
  upsertNode(n: NodeInfo): void {
    this.compiler.upsertNode(n);
  }
  deleteNode(name: string): void {
    this.compiler.deleteNode(name);
  }

  compile(): { state: CompiledState; delta: CompileDelta } {
    const delta = this.compiler.flush();
    return { state: this.compiler.state(), delta };
  }

  view(): ModelView {
    return this.compiler;
  }
}

class FullCompilation implements Compilation {
  private readonly namespaces = new Map<string, NamespaceInfo>();
  private readonly pods = new Map<ObjectKey, PodInfo>();
  private readonly policies = new Map<ObjectKey, PolicyInfo>();
  private readonly clusterPolicies = new Map<string, ClusterPolicyInfo>();
  private readonly nodes = new Map<string, NodeInfo>();
  private last: IncrementalCompiler;

  constructor(private readonly nodeName: string) {
    this.last = new IncrementalCompiler({ nodeName });
  }

  upsertNamespace(ns: NamespaceInfo): void {
    this.namespaces.set(ns.name, ns);
  }
  deleteNamespace(name: string): void {
    this.namespaces.delete(name);
  }
  upsertPod(pod: PodInfo): void {
    this.pods.set(objectKey(pod), pod);
  }
  deletePod(key: ObjectKey): void {
    this.pods.delete(key);
  }
  upsertPolicy(p: PolicyInfo): void {
    this.policies.set(objectKey(p), p);
  }
  deletePolicy(key: ObjectKey): void {
    this.policies.delete(key);
  }
  upsertClusterPolicy(p: ClusterPolicyInfo): void {
    this.clusterPolicies.set(p.name, p);
  }
  deleteClusterPolicy(name: string): void {
    this.clusterPolicies.delete(name);
  }
  upsertNode(n: NodeInfo): void {
    this.nodes.set(n.name, n);
  }
  deleteNode(name: string): void {
    this.nodes.delete(name);
  }

  compile(): { state: CompiledState; delta: CompileDelta } {
    this.last = compileSnapshot(
      {
        namespaces: [...this.namespaces.values()],
        pods: [...this.pods.values()],
        policies: [...this.policies.values()],
        clusterPolicies: [...this.clusterPolicies.values()],
        nodes: [...this.nodes.values()],
      },
      { nodeName: this.nodeName },
    );
    const delta = this.last.flush();
    return { state: this.last.state(), delta: delta.full ? delta : { ...delta, full: true } };
  }

  view(): ModelView {
    return this.last;
  }
}

/**
 * The Deployment and StatefulSet controllers of the simulator: on any change to a workload or
 * to a pod it owns, the workload is reconciled (one reconcile at a time per workload) with the
 * plans of workloads.ts. Pods it created or deleted but the pod watch has not shown yet are
 * remembered ("expectations", as upstream's controllers keep them) so that no reconcile acts
 * twice on a stale cache. A deleted workload's pods are deleted (what the garbage collector does).
 */
import { keyOf } from './informer';
import { KubeApiError, type Json, type KubeRest } from './kube-rest';
import { planDeployment, planStatefulSet, type WorkloadPlan } from './workloads';

type Kind = 'Deployment' | 'StatefulSet';

const PATHS: Record<Kind, string> = { Deployment: 'deployments', StatefulSet: 'statefulsets' };

interface Expectations {
  readonly creating: Set<string>;
  readonly deleting: Set<string>;
}

function meta(o: Json): {
  name: string;
  namespace: string;
  uid: string;
  ownerReferences?: { uid: string; kind: string; controller?: boolean }[];
} {
  return (o.metadata ?? {}) as ReturnType<typeof meta>;
}

export class WorkloadControllers {
  private readonly workloads = new Map<string, { kind: Kind; object: Json }>();
  private readonly expectations = new Map<string, Expectations>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();

  constructor(
    private readonly api: KubeRest,
    private readonly pods: ReadonlyMap<string, Json>,
    private readonly log: (line: string) => void,
  ) {}

  onWorkload(kind: Kind, type: string, object: Json): void {
    const { uid } = meta(object);
    if (type === 'DELETED') {
      this.workloads.delete(uid);
      this.expectations.delete(uid);
      void this.collectGarbage(uid);
      return;
    }
    this.workloads.set(uid, { kind, object });
    this.enqueue(uid);
  }

  onPod(pod: Json): void {
    const owner = meta(pod).ownerReferences?.find(
      (o) => o.controller && (o.kind === 'Deployment' || o.kind === 'StatefulSet'),
    );
    if (!owner) return;
    const e = this.expectations.get(owner.uid);
    if (e) {
      e.creating.delete(meta(pod).name);
      if ((pod.metadata as Json).deletionTimestamp || !this.pods.has(keyOf(pod)))
        e.deleting.delete(meta(pod).name);
    }
    if (this.workloads.has(owner.uid)) this.enqueue(owner.uid);
    else if (this.pods.has(keyOf(pod)) && !(pod.metadata as Json).deletionTimestamp)
      void this.collectGarbage(owner.uid);
  }

  private ownedBy(uid: string): Json[] {
    return [...this.pods.values()].filter((p) => meta(p).ownerReferences?.some((o) => o.uid === uid));
  }

  private enqueue(uid: string): void {
    if (this.running.has(uid)) {
      this.again.add(uid);
      return;
    }
    const work = this.reconcile(uid)
      .catch((e: unknown) => {
        this.log(`workload ${uid}: ${(e as Error).message}; retrying`);
        // What was planned but not done is forgotten, so the retry plans afresh.
        this.expectations.delete(uid);
        setTimeout(() => this.enqueue(uid), 1000);
      })
      .finally(() => {
        this.running.delete(uid);
        if (this.again.delete(uid)) this.enqueue(uid);
      });
    this.running.set(uid, work);
  }

  private async reconcile(uid: string): Promise<void> {
    const w = this.workloads.get(uid);
    if (!w) return;
    const e = this.expectations.get(uid) ?? { creating: new Set<string>(), deleting: new Set<string>() };
    this.expectations.set(uid, e);
    if (e.creating.size > 0 || e.deleting.size > 0) return; // the watch will bring the rest, and call again
    const owned = this.ownedBy(uid);
    const plan: WorkloadPlan =
      w.kind === 'Deployment' ? planDeployment(w.object, owned) : planStatefulSet(w.object, owned);
    const { namespace, name } = meta(w.object);
    for (const pod of plan.create) e.creating.add(meta(pod).name);
    for (const podName of plan.delete) e.deleting.add(podName);
    await Promise.all([
      ...plan.create.map(async (pod) => {
        try {
          await this.api.create(`/api/v1/namespaces/${namespace}/pods`, pod);
        } catch (err) {
          e.creating.delete(meta(pod).name);
          this.log(
            `${w.kind} ${namespace}/${name}: creating pod ${meta(pod).name}: ${(err as Error).message}`,
          );
        }
      }),
      ...plan.delete.map(async (podName) => {
        try {
          await this.api.delete(`/api/v1/namespaces/${namespace}/pods/${podName}`);
        } catch (err) {
          e.deleting.delete(podName);
          if (!(err instanceof KubeApiError && err.status === 404)) throw err;
        }
      }),
    ]);
    const status = { ...plan.status };
    if (JSON.stringify(status) !== JSON.stringify(w.object.status ?? {})) {
      try {
        const stored = await this.api.mergePatch(
          `/apis/apps/v1/namespaces/${namespace}/${PATHS[w.kind]}/${name}/status`,
          {
            status,
          },
        );
        const current = this.workloads.get(uid);
        if (current) current.object = { ...current.object, status: stored.status };
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      }
    }
    if (plan.create.length > 0 || plan.delete.length > 0) this.again.add(uid);
  }

  private async collectGarbage(ownerUid: string): Promise<void> {
    for (const pod of this.ownedBy(ownerUid)) {
      if ((pod.metadata as Json).deletionTimestamp) continue;
      const { namespace, name } = meta(pod);
      try {
        await this.api.delete(`/api/v1/namespaces/${namespace}/pods/${name}`);
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404))
          this.log(`garbage collection of ${namespace}/${name}: ${(err as Error).message}`);
      }
    }
  }
}

/**
 * The status a kubelet writes for a pod, as plain data (pure): Running with its addresses and
 * the four conditions `kubectl get` and `kubectl wait --for=condition=Ready` read, a container
 * status per container (READY 1/1), or Pending with a waiting reason while it is set up.
 */
import type { Json } from './kube-rest';

export interface ContainerRun {
  readonly ready: boolean;
  readonly restartCount: number;
  readonly startedAt: string;
  /** Why the container is not running now (CrashLoopBackOff while an agent waits to restart). */
  readonly waiting?: { reason: string; message: string };
  readonly lastTerminated?: { exitCode: number; reason: string; finishedAt: string };
}

function containersOf(pod: Json): { name: string; image: string }[] {
  const spec = (pod.spec ?? {}) as { containers?: { name?: string; image?: string }[] };
  return (spec.containers ?? []).map((c) => ({ name: String(c.name ?? ''), image: String(c.image ?? '') }));
}

function condition(type: string, status: boolean, at: string, reason?: string): Json {
  return {
    type,
    status: status ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: at,
    ...(reason && !status ? { reason } : {}),
  };
}

export function runningStatus(
  pod: Json,
  o: {
    podIPs: readonly string[];
    hostIPs: readonly string[];
    startTime: string;
    now: string;
    run?: (name: string) => ContainerRun;
  },
): Json {
  const uid = String((pod.metadata as Json | undefined)?.uid ?? '');
  const containers = containersOf(pod).map((c) => {
    const run = o.run?.(c.name) ?? { ready: true, restartCount: 0, startedAt: o.startTime };
    return {
      name: c.name,
      image: c.image,
      imageID: `palisade-sandbox://${c.image}`,
      containerID: `palisade-sandbox://${uid}/${c.name}`,
      ready: run.ready,
      started: run.waiting === undefined,
      restartCount: run.restartCount,
      state: run.waiting ? { waiting: run.waiting } : { running: { startedAt: run.startedAt } },
      ...(run.lastTerminated ? { lastState: { terminated: run.lastTerminated } } : {}),
    };
  });
  const ready = containers.every((c) => c.ready);
  return {
    phase: 'Running',
    conditions: [
      condition('PodReadyToStartContainers', true, o.startTime),
      condition('Initialized', true, o.startTime),
      condition('Ready', ready, o.now, 'ContainersNotReady'),
      condition('ContainersReady', ready, o.now, 'ContainersNotReady'),
      condition('PodScheduled', true, o.startTime),
    ],
    hostIP: o.hostIPs[0],
    hostIPs: o.hostIPs.map((ip) => ({ ip })),
    podIP: o.podIPs[0],
    podIPs: o.podIPs.map((ip) => ({ ip })),
    startTime: o.startTime,
    containerStatuses: containers,
    qosClass: 'BestEffort',
  };
}

/** Pending while the sandbox sets the pod up, or when setting it up failed. */
export function pendingStatus(pod: Json, reason: string, message: string, scheduledAt: string): Json {
  return {
    phase: 'Pending',
    conditions: [condition('PodScheduled', true, scheduledAt)],
    containerStatuses: containersOf(pod).map((c) => ({
      name: c.name,
      image: c.image,
      imageID: '',
      ready: false,
      started: false,
      restartCount: 0,
      state: { waiting: { reason, message } },
    })),
    qosClass: 'BestEffort',
  };
}

/** True when the pod's Ready condition is True. */
export function isReady(pod: Json): boolean {
  const conditions = ((pod.status as Json | undefined)?.conditions ?? []) as {
    type?: string;
    status?: string;
  }[];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

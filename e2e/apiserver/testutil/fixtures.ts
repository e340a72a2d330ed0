/**
 * Small factories and waiting helpers for the API server tests. Objects are plain JSON; tweaks are
 * shallow-merged over sensible defaults: pod('x/a', { labels: { app: 'a' }, nodeName: 'n1' }).
 */
import type { KubeObject } from '../types';

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export interface PodTweaks {
  labels?: Record<string, string>;
  nodeName?: string;
  podIP?: string;
  phase?: string;
}

/** `ref` is "namespace/name". */
export function pod(ref: string, tweaks: PodTweaks = {}): KubeObject {
  const [ns, name] = ref.split('/');
  const obj: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: tweaks.labels ?? {} },
    spec: {
      containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.9' }],
      ...(tweaks.nodeName ? { nodeName: tweaks.nodeName } : {}),
    },
  };
  if (tweaks.podIP || tweaks.phase) {
    obj.status = {
      phase: tweaks.phase ?? 'Running',
      ...(tweaks.podIP ? { podIP: tweaks.podIP, podIPs: [{ ip: tweaks.podIP }] } : {}),
    };
  }
  return obj;
}

export function policy(ref: string, spec: Record<string, unknown> = { podSelector: {} }): KubeObject {
  const [ns, name] = ref.split('/');
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: ns },
    spec,
  };
}

/** Polls until `check` returns a value other than undefined/false; fails with `what` after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface StreamedEvent {
  type: string;
  object: KubeObject & { code?: number; reason?: string };
}

/** Opens a raw watch with fetch and collects its JSON-lines events. */
export async function rawWatch(
  url: string,
  init: RequestInit = {},
): Promise<{ events: StreamedEvent[]; ended: Promise<void>; abort: () => void; status: number }> {
  const controller = new AbortController();
  const response = await fetch(url, { ...init, signal: controller.signal });
  const events: StreamedEvent[] = [];
  const ended = (async () => {
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.trim()) events.push(JSON.parse(line) as StreamedEvent);
        }
      }
    } catch {
      // aborted or connection dropped: the events so far are what the test looks at
    }
  })();
  return { events, ended, abort: () => controller.abort(), status: response.status };
}

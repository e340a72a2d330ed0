/**
 * The control protocol between the sandbox (in the host namespace) and each endpoint process
 * (one per pod, node and external namespace). Newline-delimited JSON over a Unix socket in the
 * sandbox state directory: path sockets work across network namespaces, and they outlive the
 * process that built the sandbox, so `palisade sandbox probe` can drive a kept sandbox.
 *
 * Each line from the client is `{id, request}`; each answer is `{id, ok: true, result}` or
 * `{id, ok: false, error}`. Requests on one connection may be in flight concurrently.
 */

export interface ServedPort {
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
}

export interface ProbeTarget {
  /** Caller's handle for the result. */
  readonly id: number;
  readonly ip: string;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
}

export interface ProbeOutcome {
  readonly id: number;
  readonly ok: boolean;
  /** "echoed", "timeout", an errno code ("ECONNREFUSED", "EPERM", ...), "mismatch". */
  readonly detail: string;
}

export interface ProbeSettings {
  readonly tcpTimeoutMs: number;
  readonly udpTimeoutMs: number;
  readonly udpAttempts: number;
  readonly concurrency: number;
}

export interface SctpInit {
  readonly ip: string;
  readonly port: number;
  readonly srcPort: number;
  /** INIT initiate tag: names the probe (source, destination, port) at the receiver. Non-zero. */
  readonly tag: number;
}

export interface SctpSendFailure {
  readonly tag: number;
  readonly error: string;
}

export interface SctpArrival {
  readonly src: string;
  readonly dport: number;
  readonly tag: number;
}

export type ControlRequest =
  | { readonly op: 'ping' }
  | { readonly op: 'serve'; readonly ports: readonly ServedPort[] }
  | { readonly op: 'probe'; readonly targets: readonly ProbeTarget[]; readonly settings: ProbeSettings }
  | { readonly op: 'sctp-send'; readonly inits: readonly SctpInit[] }
  | { readonly op: 'sctp-take' }
  | { readonly op: 'http-get'; readonly url: string; readonly timeoutMs: number };

export interface ControlResults {
  ping: { pid: number; serving: readonly ServedPort[]; sctp: boolean };
  serve: { serving: readonly ServedPort[] };
  probe: { outcomes: readonly ProbeOutcome[] };
  'sctp-send': { failures: readonly SctpSendFailure[] };
  'sctp-take': { arrivals: readonly SctpArrival[] };
  'http-get': { status: number; body: string };
}

export type ControlResultOf<R extends ControlRequest> = ControlResults[R['op']];

export type ControlAnswer =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

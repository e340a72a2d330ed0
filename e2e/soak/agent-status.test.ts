/**
 * When the soak counts a write as applied by an agent, and an agent as caught up, from its status.
 */
import { type AgentStatus, hasApplied, hasCaughtUp, hasSeen, isIdle } from './agent-status';

const runner = {
  pendingEvents: 0,
  running: null,
  applies: 5,
  applyErrors: 0,
  consecutiveFailures: 0,
  lastApply: { at: 1, durationMs: 3 },
  lastRepaired: null,
  repairs: 0,
};
const status = (over: Partial<AgentStatus> = {}, run: Partial<typeof runner> = {}): AgentStatus => ({
  ready: true,
  watches: [
    { resource: 'pods', state: 'watching', resourceVersion: '120' },
    { resource: 'namespaces', state: 'watching', resourceVersion: '98' },
    { resource: 'clusternetworkpolicies', state: 'absent', resourceVersion: '', served: false },
  ],
  runner: { ...runner, ...run },
  ...over,
});

describe('agent status predicates', () => {
  test('a write is seen once the watch of its resource is at its revision or later (numerically)', () => {
    expect(hasSeen(status(), 'pods', '120')).toBe(true);
    expect(hasSeen(status(), 'pods', '99')).toBe(true);
    expect(hasSeen(status(), 'pods', '121')).toBe(false);
    expect(hasSeen(status(), 'namespaces', '100')).toBe(false);
    expect(hasSeen(status(), 'networkpolicies', '1')).toBe(false);
  });

  test('applied: seen, and nothing pending, running or failed', () => {
    expect(hasApplied(status(), 'pods', '120')).toBe(true);
    expect(hasApplied(status({}, { pendingEvents: 1 }), 'pods', '120')).toBe(false);
    expect(hasApplied(status({}, { running: 'apply' as never }), 'pods', '120')).toBe(false);
    expect(hasApplied(status({}, { running: 'repair' as never }), 'pods', '120')).toBe(true);
    expect(hasApplied(status({}, { consecutiveFailures: 1 }), 'pods', '120')).toBe(false);
    expect(isIdle(status({ ready: false }))).toBe(false);
    expect(isIdle(status({ runner: null }))).toBe(false);
  });

  test('caught up: every served watch watching at the revision or later, and idle', () => {
    expect(hasCaughtUp(status(), '98')).toBe(true);
    expect(hasCaughtUp(status(), '99')).toBe(false);
    const relisting = status({
      watches: [
        { resource: 'pods', state: 'listing', resourceVersion: '120' },
        { resource: 'namespaces', state: 'watching', resourceVersion: '120' },
      ],
    });
    expect(hasCaughtUp(relisting, '100')).toBe(false);
    expect(hasCaughtUp(status({ watches: [] }), '1')).toBe(false);
    expect(hasCaughtUp(status({}, { pendingEvents: 2 }), '98')).toBe(false);
  });
});

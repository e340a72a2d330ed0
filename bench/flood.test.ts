/**
 * The flood bench's pure parts: CPU ticks from /proc/PID/stat (a command name may hold spaces and
 * parentheses), and the summary says whether the rate limit held and what was counted lost.
 */
import { type FloodResult, floodSummary, parseProcStat } from './flood';

test('parseProcStat reads utime, stime, cutime and cstime after the command name', () => {
  const line =
    '4715 (node (a) b) S 4713 4713 3262 0 -1 4194304 101 0 0 0 1234 567 89 10 20 0 1 0 222591 3133440 418 18446744073709551615\n';
  expect(parseProcStat(line)).toEqual({ utime: 1234, stime: 567, cutime: 89, cstime: 10 });
});

test('the summary names the figures, and a limit that did not hold', () => {
  const result: FloodResult = {
    backend: 'nftables',
    seconds: 10,
    pair: {
      client: 'a/c',
      clientIp: '10.2.0.1',
      server: 'a/s',
      serverIp: '10.1.0.1',
      port: 8080,
      denied: 'b/d',
      deniedIp: '10.2.0.2',
      isolatingPolicies: ['a/p'],
    },
    rateLimit: { ratePerSecond: 100, burst: 200 },
    throughputMbps: { quiet: 9000, flood: 6000, floodWithoutLogs: 6100 },
    throughputRatio: 0.667,
    cpu: { quiet: { agent: 0.2, tcpdump: 0 }, flood: { agent: 3.5, tcpdump: 1.1, floodClient: 97 } },
    flood: {
      attempts: 120000,
      attemptsPerSecond: 12000,
      errors: 0,
      seen: 120004,
      logged: 1200,
      loggedPerSecond: 117.6,
      rateLimitHolds: true,
      events: 1200,
      lostCounted: 118804,
      lostByKernel: 118804,
      queueOverflows: 0,
      controlAttempts: 125000,
    },
    windowSeconds: { quiet: 10.1, flood: 10.2 },
  };
  const text = floodSummary(result);
  expect(text).toContain(
    'quiet 9000 Mbit/s; under the flood 6000 (0.667); under the flood with verdict logs off 6100',
  );
  expect(text).toContain('120004 reached the log point, 1200 logged (117.6/s: the limit holds)');
  expect(text).toContain('118804 counted by the agent, 118804 by the kernel');
  expect(text).toContain('agent 0.2 quiet, 3.5 under the flood');
  expect(floodSummary({ ...result, flood: { ...result.flood, rateLimitHolds: false } })).toContain(
    'DOES NOT HOLD',
  );
});

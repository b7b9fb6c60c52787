// The guard every network test file starts with: `describe` when network namespaces work here,
// `describe.skip` with a warning when they do not, and a failed run under CI (the network claims
// rest on these tests, so a missing capability must not pass quietly).
import { netnsUnavailable } from './harness';

export function describeNet(): jest.Describe {
  const unavailable = netnsUnavailable();
  if (unavailable && process.env.CI === 'true')
    throw new Error(`tests/net must run under CI (as root, with network namespaces): ${unavailable}`);
  if (unavailable) console.warn(`tests/net skipped: ${unavailable}`);
  return unavailable ? describe.skip : describe;
}

// What the network tests read from their speakers' logs after each test: the failures a test must
// not cause, and the last lines of every speaker when a test failed (jest shows no process output).
import type { LogLine, SpeakerProcess } from './speakers';

/**
 * The lines since `marks` (each speaker's log length when the test began) that say a command failed,
 * a status write failed, or something reached stderr. A status write that meets an L2LBService the
 * test deleted meanwhile finds it gone (HTTP 404): no failure. `tolerated` drops a known, harmless
 * line a test expects.
 */
export function speakerFailures(
  speakers: Iterable<SpeakerProcess>,
  marks: ReadonlyMap<SpeakerProcess, number>,
  tolerated: (s: SpeakerProcess, l: LogLine) => boolean = () => false,
): (LogLine & { node: string })[] {
  return [...speakers].flatMap((s) =>
    s.logs
      .slice(marks.get(s) ?? 0)
      .filter((l) => l.msg === 'command failed' || l.msg === 'status write failed' || l.level === 'stderr')
      .filter((l) => !(l.msg === 'status write failed' && /HTTP 404/.test(String(l.error))))
      .filter((l) => !tolerated(s, l))
      .map((l) => ({ node: s.node, ...l })),
  );
}

/** Prints the last 40 log lines of every speaker when the running test failed or `also` holds. */
export function printSpeakerLogsOnFailure(speakers: Iterable<SpeakerProcess>, also = false): void {
  const failed = expect.getState().assertionCalls !== expect.getState().numPassingAsserts;
  if (!failed && !also) return;
  for (const s of speakers)
    console.log(
      `--- ${s.node}\n${s.logs
        .slice(-40)
        .map((l) => JSON.stringify(l))
        .join('\n')}`,
    );
}

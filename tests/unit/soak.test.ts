/**
 * The rogue soak (tests/soak/rogueSoak.ts): 6 s of rogue in `npm test`; `npm run soak` gives it the full minute
 * (and runs long enough to be trained through it).
 */
import { describe, expect, it } from 'vitest';
import { rogueSoak } from '../soak/rogueSoak';

const full = process.env.npm_lifecycle_event === 'soak';
const MiB = 1024 * 1024;

describe('rogue soak on loopback', () => {
  it(
    'two runs reach exactly their accuracies without the rogue, memory stays bounded, records stay, refusals are logged',
    async () => {
      const report = await rogueSoak(full ? { rogueSeconds: 60, epochs: 30 } : { rogueSeconds: 6, epochs: 4 });
      console.log(
        `soak: ${report.rogueCycles} rogue cycles (${report.cyclesWhileTraining} while training), ` +
          `peak RSS +${((report.rssPeak - report.rssStart) / MiB).toFixed(1)} MiB, ` +
          `at most ${(Math.max(...report.floodBytesAccepted) / 1024).toFixed(0)} KiB written of each 200 MiB flood, ` +
          `refusals: hub ${report.hubRefusals}, scheduler ${report.orchestratorRefusals} (${report.storedRefusals} lines stored)\n` +
          Object.entries(report.hubRefusalKinds)
            .map(([kind, count]) => `  ${count} x ${kind}`)
            .join('\n'),
      );
      for (const [i, run] of report.attacked.entries()) {
        const reference = report.reference[i]!;
        expect(run.status).toBe('finished');
        expect(reference.status).toBe('finished');
        expect(run.finalAccuracy).toBe(reference.finalAccuracy);
        expect(run.losses).toBe(reference.losses);
        expect(run.evaluations).toBe(reference.evaluations);
      }
      expect(report.referenceAfter).toEqual(report.referenceBefore);
      expect(report.cyclesWhileTraining).toBeGreaterThan(0);
      // Three 200 MiB frames before hello per second would be gigabytes; the hub keeps a few KiB of each.
      expect(report.rssPeak - report.rssStart).toBeLessThan(128 * MiB);
      for (const bytes of report.floodBytesAccepted) expect(bytes).toBeLessThan(200 * MiB);
      expect(report.hubRefusals).toBeGreaterThan(report.rogueCycles);
      expect(report.orchestratorRefusals).toBeGreaterThan(report.rogueCycles);
      expect(report.storedRefusals).toBeGreaterThan(0);
      const kinds = Object.keys(report.hubRefusalKinds).join('\n');
      for (const refusal of [
        /sent more than N bytes before its hello/,
        /wrong token/,
        /sent hello after hello/,
        /text frame/,
        /bad frame/,
        /N connections already waiting for hello/,
      ])
        expect(kinds).toMatch(refusal);
    },
    full ? 600_000 : 180_000,
  );
});

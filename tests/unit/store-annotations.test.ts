import { describe, expect, it } from 'vitest';
import { annotationPatchSchema, parseTags } from '../../common/annotations';
import { checkArgs } from '../../common/apiArgs';
import { openStore, UnknownRunError } from '../../main/core/store';
import { cleanUpStores, config, tempDir } from './storeFixture';

cleanUpStores();

/** A store in a fresh folder with a run of each of the fixture's arms (Top_k, Dense). */
function setup() {
  const dir = tempDir();
  const store = openStore(dir);
  const experiment = store.createExperiment(config);
  const topk = store.createRun({ experimentId: experiment.id, arm: config.arms[0]!, seed: 1, totalIterations: 10 });
  const dense = store.createRun({ experimentId: experiment.id, arm: config.arms[1]!, seed: 1, totalIterations: 10 });
  return { dir, store, topk, dense };
}

describe('run annotations (names, notes, tags)', () => {
  it('stores, patches field by field, survives a reopen and goes with its run', () => {
    const { dir, store, topk, dense } = setup();
    expect(store.annotations.all()).toEqual({});
    expect(store.annotations.get(topk.id)).toEqual({ name: null, notes: '', tags: [] });
    store.annotations.update(topk.id, { name: 'Top_k baseline', tags: ['baseline', 'lr 0.03', 'baseline'] });
    expect(store.annotations.update(topk.id, { notes: 'diverged once at lr 0.04' })).toEqual({
      name: 'Top_k baseline',
      notes: 'diverged once at lr 0.04',
      tags: ['baseline', 'lr 0.03'],
    });
    store.annotations.update(dense.id, { name: 'reference' });
    store.close();

    const reopened = openStore(dir);
    expect(Object.keys(reopened.annotations.all()).sort()).toEqual([dense.id, topk.id].sort());
    expect(reopened.annotations.update(topk.id, { name: '' }).name).toBeNull();
    reopened.deleteRun(dense.id);
    expect(Object.keys(reopened.annotations.all())).toEqual([topk.id]);
    expect(() => reopened.annotations.update('r-missing', { name: 'x' })).toThrow(UnknownRunError);
    reopened.close();
  });

  it('refuses bad input with the field and the reason, and reads tags typed as one line', () => {
    expect(() => checkArgs('annotateRun', ['r-1', { name: 'x'.repeat(121) }])).toThrow(/name.*longer than 120/);
    expect(() => checkArgs('annotateRun', ['r-1', { tags: ['a,b'] }])).toThrow(/comma/);
    expect(() => checkArgs('annotateRun', ['r-1', { colour: 'red' }])).toThrow();
    expect(annotationPatchSchema.parse({ name: '  Top_k  ' }).name).toBe('Top_k');
    expect(parseTags(' baseline, lr 0.03,, baseline ')).toEqual(['baseline', 'lr 0.03']);
  });
});

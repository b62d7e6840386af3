import type { SparsifierMethod } from '../../common/sparsifier';
import { dgck } from './dgck';
import { gaussiank } from './gaussiank';
import type { SelectionOperator } from './operator';
import { randk } from './randk';
import { topk } from './topk';
import { trimmedk } from './trimmedk';

/**
 * What each method is, for the pieces built around its operator (GRACE's split): the compressor
 * reads whether it selects and whether its selection is exact Top_k; the communicator reads how
 * the ranks' outputs combine. Nothing outside this table branches on a method's name.
 */
export type OperatorDeclaration =
  /** Sends every coordinate; the ranks' vectors are summed by allreduce. No residual: nothing is left unsent. */
  | { exchange: 'allreduce'; selection: null; exactTopk: false }
  /**
   * Sends (indices, values) of a selection; selections differ between ranks, so they are gathered
   * and summed by each rank (allreduce cannot sum them). `exactTopk`: the selection equals Top_k's,
   * so it is its own Top_k reference when measured (no second pass).
   */
  | { exchange: 'allgather'; selection: SelectionOperator; exactTopk: boolean };

const selecting = (selection: SelectionOperator, exactTopk: boolean): OperatorDeclaration => ({
  exchange: 'allgather',
  selection,
  exactTopk,
});

export const OPERATORS: Record<SparsifierMethod, OperatorDeclaration> = {
  dense: { exchange: 'allreduce', selection: null, exactTopk: false },
  topk: selecting(topk, true),
  gaussiank: selecting(gaussiank, false),
  dgck: selecting(dgck, false),
  trimmedk: selecting(trimmedk, true),
  randk: selecting(randk, false),
};

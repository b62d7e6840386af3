import type { SparsifierMethod } from '../../common/sparsifier';
import { dgck } from './dgck';
import { gaussiank } from './gaussiank';
import type { SelectionOperator } from './operator';
import { randk } from './randk';
import { topk } from './topk';
import { trimmedk } from './trimmedk';

export type { Selection, SelectionOperator, SelectionRequest } from './operator';

export const SELECTION_OPERATORS: Record<Exclude<SparsifierMethod, 'dense'>, SelectionOperator> = {
  topk,
  gaussiank,
  dgck,
  trimmedk,
  randk,
};
export { OPERATORS, type OperatorDeclaration } from './declaration';

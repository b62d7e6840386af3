import type { DeviceSelection, DeviceSelectionRequest, Kernels, SparseMethod } from '../kernels/kernels';
import { SELECTION_OPERATORS } from './index';

/**
 * `method`'s selection of u with u's finiteness check: on the device in one read-back where the
 * backend offers it (Kernels.selectOnDevice), else moments then the operator, on the host's lead.
 */
export async function runSelection<V>(
  kernels: Kernels<V>,
  u: V,
  method: SparseMethod,
  request: DeviceSelectionRequest,
): Promise<DeviceSelection> {
  if (!kernels.selectOnDevice) return selectOnHost(kernels, u, method, request);
  const [result] = await kernels.selectOnDevice([{ u, method, request }]);
  return result!;
}

/** The moments pass, then the operator composed of the backend's kernels. */
export async function selectOnHost<V>(
  kernels: Kernels<V>,
  u: V,
  method: SparseMethod,
  request: DeviceSelectionRequest,
): Promise<DeviceSelection> {
  const moments = await kernels.moments(u);
  if (moments.firstNonFinite >= 0) return { firstNonFinite: moments.firstNonFinite, moments, selection: null };
  const selection = await SELECTION_OPERATORS[method].select(kernels, u, { ...request, moments });
  return { firstNonFinite: -1, moments, selection };
}

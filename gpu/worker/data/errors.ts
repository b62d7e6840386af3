/**
 * A dataset file or folder is missing, truncated or not in the expected format. The message names
 * the file (or folder) and says what was expected, e.g.
 * "train-images-idx3-ubyte: magic 2051 expected, found 2049".
 */
export class DatasetError extends Error {
  override name = 'DatasetError';

  constructor(
    message: string,
    /** The file or folder at fault, when there is one. */
    readonly path?: string,
  ) {
    super(message);
  }
}

import { ZodError, type z } from 'zod';
import { ApiError } from '../../../common/api';
import { ExperimentFileError } from '../../../common/experimentFile';
import { StoreError } from '../store';

/** "arms.0.density: must be at most 1" per issue, as experiment files report them (common/experimentFile). */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
    return `${where}: ${issue.message}`;
  });
}

/** An error the user caused or can act on: its message is shown as is. */
export function isUserError(error: unknown): boolean {
  return (
    error instanceof ApiError ||
    error instanceof StoreError ||
    error instanceof ExperimentFileError ||
    error instanceof ZodError
  );
}

/** The message the renderer shows for an error from a call. */
export function userMessage(method: string, error: unknown): string {
  if (error instanceof ZodError) return `${method}: ${describeIssues(error.issues).join('; ')}`;
  if (isUserError(error)) return (error as Error).message;
  const message = error instanceof Error ? error.message : String(error);
  return `${method} failed: ${message || 'unexpected error'}`;
}

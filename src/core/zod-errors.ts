import type { z } from 'zod';
import { ValidationError } from './errors.js';

/** A zod failure as a ValidationError naming the first offending field (`DepositMoney.amount`). */
export function zodIssueToValidationError(error: z.ZodError, prefix: string): ValidationError {
  const issue = error.issues[0]!;
  const path = issue.path.map(String).join('.');
  const more =
    error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem${error.issues.length > 2 ? 's' : ''})` : '';
  return new ValidationError(path ? `${prefix}.${path}` : prefix, `${issue.message}${more}`);
}

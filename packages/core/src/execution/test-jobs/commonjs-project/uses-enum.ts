// An enum: TypeScript that Node's type stripping cannot run, so the loader falls back to tsx.
import { defineJob } from '../../../index.ts';

enum Kind {
  Only = 'uses-enum-ts',
}
export default defineJob({ name: Kind.Only }, () => {});

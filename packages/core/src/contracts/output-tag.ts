/** Names a side output; the type parameter types what `getSideOutput` returns. */
export class OutputTag<T> {
  declare readonly __type: T;
  readonly id: string;

  constructor(id: string) {
    if (typeof id !== 'string' || id.length === 0) {
      throw new TypeError('OutputTag: id must be a non-empty string');
    }
    this.id = id;
  }
}

export function outputTag<T>(id: string): OutputTag<T> {
  return new OutputTag<T>(id);
}

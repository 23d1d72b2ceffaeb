/** Byte sizes as operators write them: 1048576, "512KB", "25MB", "1GB" (powers of 1024). */
const UNIT_BYTES: Record<string, number> = { b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

export function parseSize(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new Error(`${value} is not a byte count`);
    return value;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = UNIT_BYTES[(match?.[2] ?? '').toLowerCase() || 'b'];
  if (!match || unit === undefined) throw new Error(`"${value}" is not a size; write e.g. 1048576, "512KB" or "25MB"`);
  return Math.round(Number(match[1]) * unit);
}

// query.mjs runs SQL in a fresh in-memory DuckDB and prints the result as JSON.
// It is the DuckDB side of the Go package internal/duckdbtest; see doc.go there.
//
//   node query.mjs "SELECT 42"      one query, result on stdout
//   node query.mjs --serve          one JSON request per stdin line, one response per stdout line
//
// A request is {"id": N, "sql": "..."}; a response is
// {"id": N, "columns": [...], "types": [...], "rows": [[...], ...]} or {"id": N, "error": "..."}.
// Every query gets its own DuckDB instance, so queries never see each other's tables.
//
// Values go out in a tagged form that keeps their type, decoded by the Go side:
//   null, true/false, "text"          as is (VARCHAR, ENUM, UUID, DECIMAL, INTERVAL, TIME... as text)
//   {"i": "123"}                      any integer type, as exact decimal digits
//   {"f": "1.5"}                      FLOAT/DOUBLE as JS shortest round-trip text, or "NaN", "Infinity", "-Infinity"
//   {"t": "2026-11-21T10:00:00.123Z"} timestamps: ISO 8601, "Z" only WITH TIME ZONE, always in UTC
//   {"d": "2026-11-21"}               DATE
//   {"b": "base64"}                   BLOB
//   [ ... ]                           LIST, ARRAY
//   {"s": {"name": value}}            STRUCT
//   {"m": [[key, value], ...]}        MAP
//   {"u": [tag, value]}               UNION
import { createInterface } from 'node:readline';
import { DuckDBInstance, DuckDBTypeId } from '@duckdb/node-api';

const pad = (n, w) => String(n).padStart(w, '0');

// isoUTC formats an instant given as a BigInt count of units (1e6 per second for
// micros, 1e9 for nanos...) since the Unix epoch, in UTC, with the fraction
// trimmed of trailing zeros. It does not go through the session time zone, so the
// output is the same on every machine.
function isoUTC(count, perSecond, digits, zone) {
  let secs = count / perSecond;
  let frac = count % perSecond;
  if (frac < 0n) {
    frac += perSecond;
    secs -= 1n;
  }
  const d = new Date(Number(secs) * 1000);
  const year = d.getUTCFullYear();
  const y = year >= 0 && year <= 9999 ? pad(year, 4) : (year < 0 ? '-' : '+') + pad(Math.abs(year), 6);
  let s = `${y}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T` +
    `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
  if (frac !== 0n) {
    s += '.' + pad(frac, digits).replace(/0+$/, '');
  }
  return s + zone;
}

function convert(value, type) {
  if (value === null || value === undefined) {
    return null;
  }
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return Boolean(value);
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
      return { i: String(value) };
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return { f: String(value) };
    case DuckDBTypeId.TIMESTAMP_TZ:
      return value.isFinite ? { t: isoUTC(value.micros, 1000000n, 6, 'Z') } : String(value);
    case DuckDBTypeId.TIMESTAMP:
      return value.isFinite ? { t: isoUTC(value.micros, 1000000n, 6, '') } : String(value);
    case DuckDBTypeId.TIMESTAMP_S:
      return value.isFinite ? { t: isoUTC(value.seconds, 1n, 0, '') } : String(value);
    case DuckDBTypeId.TIMESTAMP_MS:
      return value.isFinite ? { t: isoUTC(value.millis, 1000n, 3, '') } : String(value);
    case DuckDBTypeId.TIMESTAMP_NS:
      return value.isFinite ? { t: isoUTC(value.nanos, 1000000000n, 9, '') } : String(value);
    case DuckDBTypeId.DATE:
      return value.isFinite ? { d: isoUTC(BigInt(value.days) * 86400n, 1n, 0, '').slice(0, -9) } : String(value);
    case DuckDBTypeId.BLOB:
      return { b: Buffer.from(value.bytes).toString('base64') };
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY:
      return value.items.map((v) => convert(v, type.valueType));
    case DuckDBTypeId.STRUCT: {
      const out = {};
      for (const key of Object.keys(value.entries)) {
        out[key] = convert(value.entries[key], type.typeForEntry(key));
      }
      return { s: out };
    }
    case DuckDBTypeId.MAP:
      return { m: value.entries.map((e) => [convert(e.key, type.keyType), convert(e.value, type.valueType)]) };
    case DuckDBTypeId.UNION:
      return { u: [value.tag, convert(value.value, type.memberTypes[type.memberIndexForTag(value.tag)])] };
    default:
      return String(value);
  }
}

async function query(sql) {
  const instance = await DuckDBInstance.create(':memory:');
  try {
    const conn = await instance.connect();
    try {
      const reader = await conn.runAndReadAll(sql);
      const types = reader.columnTypes();
      const rows = reader.getRows().map((row) => row.map((v, i) => convert(v, types[i])));
      return { columns: reader.columnNames(), types: types.map(String), rows };
    } finally {
      conn.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

async function serve() {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') {
      continue;
    }
    let id = null;
    let out;
    try {
      const req = JSON.parse(line);
      id = req.id;
      out = { id, ...(await query(req.sql)) };
    } catch (err) {
      out = { id, error: String(err && err.message ? err.message : err) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
}

if (process.argv[2] === '--serve') {
  await serve();
} else if (process.argv.length === 3) {
  try {
    process.stdout.write(JSON.stringify(await query(process.argv[2])) + '\n');
  } catch (err) {
    process.stderr.write(String(err && err.message ? err.message : err) + '\n');
    process.exit(1);
  }
} else {
  process.stderr.write('usage: node query.mjs SQL | node query.mjs --serve\n');
  process.exit(2);
}

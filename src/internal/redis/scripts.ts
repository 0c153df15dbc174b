/**
 * The Lua scripts of `RedisStore` and the key layout they share. Every script receives the store's index key
 * (`<prefix>i`) as `KEYS[1]` (so a Redis Cluster routes it to the slot of the prefix's hash tag) and derives every
 * other key from it: entry hashes `<prefix>e:<key>`, the expiry set `<prefix>x`, tag sets `<prefix>t:<tag>`. An entry
 * hash holds the fields `v` (value bytes), `x` (expiry in epoch ms of the store's `Clock`; absent: never), `c`
 * (createdAt), `u` (updatedAt), `t` (tags, a JSON array; absent: none), `m` (metadata, a JSON object; absent: none)
 * and `r` (a revision token that every write replaces). Times arrive as arguments: scripts never read the server's
 * clock, so expiry follows the store's `Clock` (a `TestClock` too). `PEXPIRE` times are computed by the caller (the
 * time left by the store's `Clock`, plus a grace) and only back the sweeper up.
 *
 * The writing scripts (`set`, `setMany`, `apply`, `remove`, `touch`) each have a fenced variant (`fenced`) that first
 * checks a lock's lease: `KEYS[2]` is the lock's lease set (`<prefix>l:<name>`, in the slot of the prefix's hash tag
 * like every other key), the last `ARGV` the holder's slot. It fails with an error reply starting with
 * `FENCE_REPLY`, before anything is written, when the slot is gone or has expired at now (`ARGV[1]`).
 *
 * Scripts run with `EVALSHA` and fall back to `EVAL` when the server does not know them yet (`run`). Byte order of
 * keys is the index's `ZRANGEBYLEX` order (every score is 0, so members compare by `memcmp`); range checks inside Lua
 * compare bytes explicitly, because Lua's `<` on strings follows the server's locale.
 *
 * @internal
 */
import * as crypto from "node:crypto"

/** A script: its text and SHA-1 (for `EVALSHA`). @internal */
export interface Script {
  readonly name: string
  readonly lua: string
  readonly sha: string
}

// The checks of the entry write of key k with n new tags at ARGV[i + 8 ..] (see writeCore), as inline code: sets
// `old` to the entry's current fields c, x, t, m, r, and fails (before anything is written) when a tag set it will
// touch holds another type. Inline rather than a helper function: the hot scripts define no closures (Redis runs a
// script's whole body on every call, closure creation included).
const prepareCore = `local old = redis.call("HMGET", P .. "e:" .. k, "c", "x", "t", "m", "r")
if old[3] or n > 0 then
  local check = {}
  if old[3] then
    local ok, tags = pcall(cjson.decode, old[3])
    if ok and type(tags) == "table" then
      for _, tag in ipairs(tags) do
        if type(tag) == "string" then check[#check + 1] = tag end
      end
    end
  end
  for j = 1, n do check[#check + 1] = ARGV[i + 7 + j] end
  for _, tag in ipairs(check) do
    local kind = redis.call("TYPE", P .. "t:" .. tag)["ok"]
    if kind ~= "none" and kind ~= "set" then
      error({ err = "WRONGTYPE the key " .. P .. "t:" .. tag .. " holds a " .. kind .. " where a set was expected" })
    end
  end
end`

// Writes one entry, as inline code over the locals k (key), v (value), x (expiresAt, "" never), tj (tags JSON, ""
// none), mj (metadata JSON, "" none), rev (revision), dl (native PEXPIRE milliseconds, "" none), n (tag count; the
// tags at ARGV[i + 8 ..]), now, nowText and old (the entry's current fields c, x, t, m from prepareCore, or nil to read
// them here). The index and the expiry set change before the entry, so a key of the wrong type there fails the script
// before the entry changes (only a damaged expiry set can leave an index member behind, which reads tolerate); an
// existing hash is already in the index.
const writeCore = `local e = P .. "e:" .. k
if old == nil then old = redis.call("HMGET", e, "c", "x", "t", "m") end
local existed = old[1] or old[2] or old[3] or old[4]
local c = nowText
if old[1] and tonumber(old[1]) then
  local ox = old[2] and tonumber(old[2])
  if not old[2] or ox == nil or ox > now then c = old[1] end
end
-- Without a hash, the key is new, or Redis expired it natively and its index and expiry members are still there
-- (then ZADD finds the index member, and the stale expiry member goes).
local stale = not existed and redis.call("ZADD", I, 0, k) == 0
if x ~= "" then
  redis.call("ZADD", X, x, k)
elseif old[2] or stale then
  redis.call("ZREM", X, k)
end
if old[3] then
  local ok, tags = pcall(cjson.decode, old[3])
  if ok and type(tags) == "table" then
    for _, tag in ipairs(tags) do
      if type(tag) == "string" then redis.call("SREM", P .. "t:" .. tag, k) end
    end
  end
end
for j = 1, n do redis.call("SADD", P .. "t:" .. ARGV[i + 7 + j], k) end
local fields = { "v", v, "c", c, "u", nowText, "r", rev }
local gone = {}
if x ~= "" then
  fields[#fields + 1] = "x"
  fields[#fields + 1] = x
elseif old[2] then
  gone[#gone + 1] = "x"
end
if tj ~= "" then
  fields[#fields + 1] = "t"
  fields[#fields + 1] = tj
elseif old[3] then
  gone[#gone + 1] = "t"
end
if mj ~= "" then
  fields[#fields + 1] = "m"
  fields[#fields + 1] = mj
elseif old[4] then
  gone[#gone + 1] = "m"
end
redis.call("HSET", e, unpack(fields))
if #gone > 0 then redis.call("HDEL", e, unpack(gone)) end
if x ~= "" and dl ~= "" then
  redis.call("PEXPIRE", e, dl)
elseif old[2] then
  redis.call("PERSIST", e)
end`

// The locals of the general entry layout at ARGV[i..]: key, value, expiresAt, tags JSON, metadata JSON, revision,
// native PEXPIRE milliseconds, tag count, tags.
const readEntry =
  `local k, v, x, tj, mj, rev, dl = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
local n = tonumber(ARGV[i + 7])`

const prepareBody = `local k, n = ARGV[i], tonumber(ARGV[i + 7])\n${prepareCore}`

const writeBody = `${readEntry}\n${writeCore}`

// Helpers a script may use, in dependency order. A script includes only the helpers it names: Redis runs the whole
// script body on every call, so each helper defined is a closure created per call.
const helpers: ReadonlyArray<readonly [string, string]> = [
  ["ekey", `local function ekey(k) return P .. "e:" .. k end`],
  ["tkey", `local function tkey(t) return P .. "t:" .. t end`],
  // An expiry that is not a number counts as live: reads then report the damage instead of hiding the entry.
  [
    "live",
    `local function live(x, now)
  if not x then return true end
  local n = tonumber(x)
  return n == nil or n > now
end`
  ],
  [
    "tagsOf",
    `local function tagsOf(json)
  if not json then return {} end
  local ok, t = pcall(cjson.decode, json)
  if ok and type(t) == "table" then return t end
  return {}
end`
  ],
  [
    "hasTag",
    `local function hasTag(json, tag)
  for _, t in ipairs(tagsOf(json)) do
    if t == tag then return true end
  end
  return false
end`
  ],
  // Fails the script (before it wrote anything) when key holds another type than kind: Redis does not roll back
  // what a script wrote before an error, so scripts check the keys they touch before their first write.
  [
    "expect",
    `local function expect(key, kind)
  local t = redis.call("TYPE", key)["ok"]
  if t ~= "none" and t ~= kind then
    error({ err = "WRONGTYPE the key " .. key .. " holds a " .. t .. " where a " .. kind .. " was expected" })
  end
end`
  ],
  [
    "expectTags",
    `local function expectTags(tags)
  if not tags then return end
  for _, t in ipairs(tagsOf(tags)) do
    if type(t) == "string" then expect(tkey(t), "set") end
  end
end`
  ],
  [
    "drop",
    `local function drop(k, e, tags)
  redis.call("ZREM", I, k)
  redis.call("ZREM", X, k)
  if tags then
    for _, t in ipairs(tagsOf(tags)) do
      if type(t) == "string" then redis.call("SREM", tkey(t), k) end
    end
  end
  redis.call("DEL", e)
end`
  ],
  ["prepare", `local function prepare(i)\n${prepareBody}\n  return old\nend`],
  ["write", `local function write(i, now, nowText, old)\n${writeBody}\n  return i + 8 + n\nend`],
  // Whether the bytes of a are greater than those of b (memcmp order; Lua's < follows the server's locale).
  [
    "greater",
    `local function greater(a, b)
  local n = math.min(#a, #b)
  local i = 1
  while i <= n do
    local j = math.min(i + 63, n)
    if string.sub(a, i, j) ~= string.sub(b, i, j) then
      for m = i, j do
        local p, q = string.byte(a, m), string.byte(b, m)
        if p ~= q then return p > q end
      end
    end
    i = j + 1
  end
  return #a > #b
end`
  ]
]

const header = `local I = KEYS[1]
local P = string.sub(I, 1, -2)
local X = P .. "x"
`

const script = (name: string, uses: ReadonlyArray<string>, body: string): Script => {
  const lua = header + helpers.filter(([helper]) => uses.includes(helper)).map(([, text]) => text + "\n").join("") +
    body
  return { name, lua, sha: crypto.createHash("sha1").update(lua).digest("hex") }
}

const writing = ["prepare", "write"]

/**
 * One write, the hot path: `ARGV`: now, then the entry as `writeBody` reads it. No helper closures.
 *
 * @internal
 */
export const set = script(
  "set",
  [],
  `local now = tonumber(ARGV[1])
local nowText = ARGV[1]
local i = 2
${prepareBody}
${writeBody}
return 1
`
)

/**
 * One write without tags or metadata (the common case, with fewer arguments): `ARGV`: now, key, value, expiresAt (""
 * never), native PEXPIRE milliseconds ("" none), revision. Same effect as `set` with no tags and no metadata (an
 * entry's former tags and metadata go). No helper closures.
 *
 * @internal
 */
export const setSimple = script(
  "setSimple",
  [],
  `local now = tonumber(ARGV[1])
local nowText = ARGV[1]
local i = 0
local k, v, x, dl, rev = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local tj, mj, n = "", "", 0
${prepareCore}
${writeCore}
return 1
`
)

/**
 * A batch of writes without tags or metadata: `ARGV`: now, a revision base (entry j's revision is the base, ":" and
 * j), entry count, then per entry key, value, expiresAt ("" never), native PEXPIRE milliseconds ("" none). Every
 * entry is read and checked before the first is written, and that read serves the write unless a key comes twice
 * (then each entry is read again as it is written, as `setMany` does); returns the count. No helper closures.
 *
 * @internal
 */
export const setManySimple = script(
  "setManySimple",
  [],
  `local now = tonumber(ARGV[1])
local nowText = ARGV[1]
local base = ARGV[2]
local count = tonumber(ARGV[3])
local olds, seen, twice = {}, {}, false
for j = 1, count do
  local i = 4 * j
  local k, n = ARGV[i], 0
  ${prepareCore}
  if seen[k] then twice = true end
  seen[k] = true
  olds[j] = old
end
for j = 1, count do
  local i = 4 * j
  local k, v, x, dl = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local tj, mj, rev, n = "", "", base .. ":" .. j, 0
  local old = nil
  if not twice then old = olds[j] end
  ${writeCore}
end
return count
`
)

/**
 * A batch read in one call: `KEYS[2..]` are the entry hashes (all in the prefix's slot); returns the fields v and x
 * of each, in order (nil for a missing field), for the caller to judge expiry by its `Clock`.
 *
 * @internal
 */
export const getMany = script(
  "getMany",
  [],
  `local out = {}
for j = 2, #KEYS do
  local f = redis.call("HMGET", KEYS[j], "v", "x")
  out[#out + 1] = f[1]
  out[#out + 1] = f[2]
end
return out
`
)

/**
 * A batch of writes: `ARGV`: now, entry count, then each entry as `writeBody` reads it. Every entry is checked before
 * the first is written; returns the count.
 *
 * @internal
 */
export const setMany = script(
  "setMany",
  writing,
  `local now = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local i = 3
for _ = 1, count do
  prepare(i)
  i = i + 8 + tonumber(ARGV[i + 7])
end
-- Each entry is read again as it is written: the same key may come twice.
i = 3
for _ = 1, count do i = write(i, now, ARGV[1], nil) end
return count
`
)

/**
 * The conditional step of a read-modify-write. \`ARGV\`: now, key, the revision read ("" when there was no hash), the
 * operation (\`"w"\`: write the entry that follows, as \`writeBody\` reads it; \`"d"\`: remove; \`"k"\`: nothing, for
 * the fenced variant's check of a read-modify-write that keeps the entry). Returns 1 when applied, 0 when the entry
 * changed since it was read (the caller reads again). No helper closures.
 *
 * @internal
 */
export const apply = script(
  "apply",
  [],
  `local now = tonumber(ARGV[1])
local nowText = ARGV[1]
if ARGV[4] == "k" then return 1 end
if ARGV[4] == "w" then
  local i = 5
  ${prepareBody}
  if (old[5] or "") ~= ARGV[3] then return 0 end
  ${writeBody}
  return 1
end
local k = ARGV[2]
local e = P .. "e:" .. k
local f = redis.call("HMGET", e, "t", "r")
if (f[2] or "") ~= ARGV[3] then return 0 end
local tags = {}
if f[1] then
  local ok, decoded = pcall(cjson.decode, f[1])
  if ok and type(decoded) == "table" then
    for _, tag in ipairs(decoded) do
      if type(tag) == "string" then tags[#tags + 1] = tag end
    end
  end
end
for _, check in ipairs({ { I, "zset" }, { X, "zset" } }) do
  local kind = redis.call("TYPE", check[1])["ok"]
  if kind ~= "none" and kind ~= check[2] then
    error({ err = "WRONGTYPE the key " .. check[1] .. " holds a " .. kind .. " where a zset was expected" })
  end
end
for _, tag in ipairs(tags) do
  local kind = redis.call("TYPE", P .. "t:" .. tag)["ok"]
  if kind ~= "none" and kind ~= "set" then
    error({ err = "WRONGTYPE the key " .. P .. "t:" .. tag .. " holds a " .. kind .. " where a set was expected" })
  end
end
redis.call("ZREM", I, k)
redis.call("ZREM", X, k)
for _, tag in ipairs(tags) do redis.call("SREM", P .. "t:" .. tag, k) end
redis.call("DEL", e)
return 1
`
)

/**
 * `ARGV`: now, keys. Removes each entry fully (a natively expired one leaves its index members, removed too);
 * returns how many live entries it removed.
 *
 * @internal
 */
export const remove = script(
  "remove",
  ["ekey", "tkey", "live", "tagsOf", "expect", "expectTags", "drop"],
  `
local now = tonumber(ARGV[1])
expect(I, "zset")
expect(X, "zset")
local found = {}
for i = 2, #ARGV do
  local f = redis.call("HMGET", ekey(ARGV[i]), "c", "x", "t")
  expectTags(f[3])
  found[i] = f
end
local n = 0
for i = 2, #ARGV do
  local k = ARGV[i]
  local e = ekey(k)
  local f = found[i]
  -- The same key may come twice: after the first, read it again.
  if i > 2 then f = redis.call("HMGET", e, "c", "x", "t") end
  if f[1] or f[2] or f[3] or redis.call("EXISTS", e) == 1 then
    if live(f[2], now) then n = n + 1 end
    drop(k, e, f[3])
  else
    redis.call("ZREM", I, k)
    redis.call("ZREM", X, k)
  end
end
return n
`
)

/**
 * `ARGV`: now, key, new expiresAt ("" never), native PEXPIRE milliseconds ("" none), revision. Gives a live entry a new
 * expiry; returns 1, or 0 when there is no live entry.
 *
 * @internal
 */
export const touch = script(
  "touch",
  ["ekey", "live", "expect"],
  `
local now = tonumber(ARGV[1])
local k = ARGV[2]
local e = ekey(k)
local f = redis.call("HMGET", e, "c", "x")
if not (f[1] or f[2]) or not live(f[2], now) then return 0 end
expect(X, "zset")
local x = ARGV[3]
if x == "" then
  redis.call("HDEL", e, "x")
  redis.call("ZREM", X, k)
  redis.call("PERSIST", e)
  redis.call("HSET", e, "u", ARGV[1], "r", ARGV[5])
else
  redis.call("HSET", e, "x", x, "u", ARGV[1], "r", ARGV[5])
  redis.call("ZADD", X, x, k)
  if ARGV[4] ~= "" then redis.call("PEXPIRE", e, ARGV[4]) else redis.call("PERSIST", e) end
end
return 1
`
)

/**
 * One bounded step of an enumeration over the index. `ARGV`: now, `ZRANGEBYLEX` min and max, the most live keys to
 * return, the most index members to examine, the mode (`"k"` keys, `"v"` keys and values, `"n"` count). Returns
 * `{ done, last examined member, count, key1[, value1], ... }`; `done` is 1 when the range is exhausted. Members
 * whose hash is gone (expired natively by Redis) are removed from the index and the expiry set on the way.
 *
 * @internal
 */
export const scan = script(
  "scan",
  ["ekey", "live"],
  `
local now = tonumber(ARGV[1])
local min, max = ARGV[2], ARGV[3]
local limit, budget, mode = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local out = { 0, "", 0 }
local count, examined = 0, 0
while true do
  local want = budget - examined
  if mode ~= "n" and limit - count < want then want = limit - count end
  if want <= 0 then return out end
  local batch = redis.call("ZRANGEBYLEX", I, min, max, "LIMIT", 0, want)
  for _, k in ipairs(batch) do
    examined = examined + 1
    out[2] = k
    local e = ekey(k)
    local f
    if mode == "v" then f = redis.call("HMGET", e, "c", "x", "v") else f = redis.call("HMGET", e, "c", "x") end
    if not (f[1] or f[2] or f[3]) and redis.call("EXISTS", e) == 0 then
      redis.call("ZREM", I, k)
      redis.call("ZREM", X, k)
    elseif live(f[2], now) and (mode ~= "v" or f[3]) then
      count = count + 1
      if mode ~= "n" then out[#out + 1] = k end
      if mode == "v" then out[#out + 1] = f[3] end
    end
  end
  out[3] = count
  if #batch < want then
    out[1] = 1
    return out
  end
  min = "(" .. out[2]
end
`
)

/**
 * One bounded step of removing a key range. `ARGV`: now, `ZRANGEBYLEX` min and max, the most members to remove.
 * Removes every entry of the range (live or expired); returns `{ done, live entries removed }`.
 *
 * @internal
 */
export const removeRange = script(
  "removeRange",
  ["ekey", "tkey", "live", "tagsOf", "drop"],
  `
local now = tonumber(ARGV[1])
local batch = redis.call("ZRANGEBYLEX", I, ARGV[2], ARGV[3], "LIMIT", 0, tonumber(ARGV[4]))
local n = 0
for _, k in ipairs(batch) do
  local e = ekey(k)
  local f = redis.call("HMGET", e, "c", "x", "t")
  if (f[1] or f[2] or f[3]) and live(f[2], now) then n = n + 1 end
  drop(k, e, f[3])
end
local done = 0
if #batch < tonumber(ARGV[4]) then done = 1 end
return { done, n }
`
)

/**
 * One `SSCAN` step of `removeTag`. `ARGV`: now, tag, cursor, count, range flag ("1": only keys starting with the
 * range prefix and, when the after flag is "1", strictly after `after`), range prefix, after flag, after. Each member
 * whose hash still carries the tag is removed fully; a stale member (its entry rewritten without the tag, or expired
 * natively) leaves the tag set. Returns `{ next cursor, live entries removed }`.
 *
 * @internal
 */
export const removeTag = script(
  "removeTag",
  ["ekey", "tkey", "live", "tagsOf", "hasTag", "drop", "greater"],
  `
local now = tonumber(ARGV[1])
local tag = ARGV[2]
local T = tkey(tag)
local ranged, rp, hasAfter, after = ARGV[5] == "1", ARGV[6], ARGV[7] == "1", ARGV[8]
local res = redis.call("SSCAN", T, ARGV[3], "COUNT", tonumber(ARGV[4]))
local n = 0
for _, k in ipairs(res[2]) do
  if not ranged or (string.sub(k, 1, #rp) == rp and (not hasAfter or greater(k, after))) then
    local e = ekey(k)
    local f = redis.call("HMGET", e, "x", "t")
    if hasTag(f[2], tag) then
      if live(f[1], now) then n = n + 1 end
      drop(k, e, f[2])
    else
      redis.call("SREM", T, k)
    end
  end
end
return { res[1], n }
`
)

/**
 * One bounded step of removing expired entries. `ARGV`: now, the most expiry-set members to examine. An entry whose
 * hash says it expired is removed fully; a member whose hash says otherwise is corrected (a later expiry moves it,
 * no expiry or a damaged one removes it from the expiry set); a member whose hash Redis dropped by itself leaves the
 * index and the expiry set, and is counted as gone: its tag-set members (the tags went with the hash) are for
 * `checkTags` in mode "2". Returns `{ entries removed, members examined, members gone }`.
 *
 * @internal
 */
export const expire = script(
  "expire",
  ["ekey", "tkey", "tagsOf", "drop"],
  `
local now = tonumber(ARGV[1])
local batch = redis.call("ZRANGEBYSCORE", X, "-inf", now, "LIMIT", 0, tonumber(ARGV[2]))
local n, gone = 0, 0
for _, k in ipairs(batch) do
  local e = ekey(k)
  local f = redis.call("HMGET", e, "x", "t", "c")
  local x = f[1] and tonumber(f[1])
  if x and x <= now then
    drop(k, e, f[2])
    n = n + 1
  elseif x then
    redis.call("ZADD", X, x, k)
  else
    redis.call("ZREM", X, k)
    if not (f[1] or f[2] or f[3]) and redis.call("EXISTS", e) == 0 then
      redis.call("ZREM", I, k)
      gone = gone + 1
    end
  end
end
return { n, #batch, gone }
`
)

/**
 * Live entries in O(log n): index members minus expiry-set members at or before now. An entry Redis expired
 * natively keeps both members until it is swept, so it is not counted either. `ARGV`: now.
 *
 * @internal
 */
export const size = script(
  "size",
  [],
  `
return redis.call("ZCARD", I) - redis.call("ZCOUNT", X, "-inf", ARGV[1])
`
)

/**
 * Lease slots of a lock: `KEYS[2]` is the lease zset (owner → expiresAt), `KEYS[3]` the fence counter. `ARGV`: owner,
 * holders, now, expiresAt, grace (the key's `PEXPIRE` is the time the latest slot has left, plus the grace; "" for
 * none).
 * Returns the new fencing token, or false when every slot is taken.
 *
 * @internal
 */
export const acquire = script(
  "acquire",
  [],
  `
local L, F = KEYS[2], KEYS[3]
local owner, holders, now, expires = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call("ZREMRANGEBYSCORE", L, "-inf", now)
if not redis.call("ZSCORE", L, owner) and redis.call("ZCARD", L) >= holders then return false end
redis.call("ZADD", L, expires, owner)
local fence = redis.call("INCR", F)
if ARGV[5] ~= "" then
  local last = redis.call("ZRANGE", L, -1, -1, "WITHSCORES")
  redis.call("PEXPIRE", L, math.max(1, math.ceil(tonumber(last[2]) - now + tonumber(ARGV[5]))))
end
return fence
`
)

/**
 * Extends the slot of `owner` (`ARGV`: owner, now, expiresAt, grace) if it has not expired; returns 1, or 0 when
 * the lease is lost.
 *
 * @internal
 */
export const renew = script(
  "renew",
  [],
  `
local L = KEYS[2]
local owner, now, expires = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local held = redis.call("ZSCORE", L, owner)
if not held or tonumber(held) <= now then return 0 end
if expires > tonumber(held) then redis.call("ZADD", L, expires, owner) end
if ARGV[4] ~= "" then
  local last = redis.call("ZRANGE", L, -1, -1, "WITHSCORES")
  redis.call("PEXPIRE", L, math.max(1, math.ceil(tonumber(last[2]) - now + tonumber(ARGV[4]))))
end
return 1
`
)

/**
 * Frees the slot of `owner` (`ARGV[1]`); someone else's slot is never touched.
 *
 * @internal
 */
export const release = script(
  "release",
  [],
  `
redis.call("ZREM", KEYS[2], ARGV[1])
return 1
`
)

/**
 * One bounded step of `check` over the index. `ARGV`: now, `ZRANGEBYLEX` min, the most members to examine, fix ("1"
 * repairs). For each member: an index member whose hash is gone (and not an expired entry waiting for the sweeper) is
 * `"orphan"`; a hash whose expiry disagrees with the expiry set is `"drift"`; a tag whose set lacks the key is
 * `"untagged"`; a field that does not parse is `"damaged <field>"` (never repaired: the entry is reported as it is).
 * Returns `{ done, last member, key1, problem1, ... }`.
 *
 * @internal
 */
export const checkIndex = script(
  "checkIndex",
  ["ekey", "tkey"],
  `local now = tonumber(ARGV[1])
local fix = ARGV[4] == "1"
local batch = redis.call("ZRANGEBYLEX", I, ARGV[2], "+", "LIMIT", 0, tonumber(ARGV[3]))
local out = { 0, "" }
local function report(k, problem)
  out[#out + 1] = k
  out[#out + 1] = problem
end
for _, k in ipairs(batch) do
  out[2] = k
  local e = ekey(k)
  local f = redis.call("HMGET", e, "v", "c", "x", "t", "m")
  local score = redis.call("ZSCORE", X, k)
  if not (f[1] or f[2] or f[3] or f[4] or f[5]) and redis.call("EXISTS", e) == 0 then
    if not (score and tonumber(score) <= now) then
      report(k, "orphan")
      if fix then
        redis.call("ZREM", I, k)
        redis.call("ZREM", X, k)
      end
    end
  else
    if not f[1] then report(k, "damaged v") end
    if not (f[2] and tonumber(f[2])) then report(k, "damaged c") end
    local x = f[3] and tonumber(f[3])
    if f[3] and not x then
      report(k, "damaged x")
    elseif (x and not (score and tonumber(score) == x)) or (not f[3] and score) then
      report(k, "drift")
      if fix then
        if x then redis.call("ZADD", X, f[3], k) else redis.call("ZREM", X, k) end
      end
    end
    if f[4] then
      local ok, tags = pcall(cjson.decode, f[4])
      local array = ok and type(tags) == "table" and string.sub(f[4], 1, 1) == "["
      if array then
        for _, tag in ipairs(tags) do
          if type(tag) ~= "string" then array = false end
        end
      end
      if not array then
        report(k, "damaged t")
      else
        for _, tag in ipairs(tags) do
          if redis.call("SISMEMBER", tkey(tag), k) == 0 then
            report(k, "untagged")
            if fix then redis.call("SADD", tkey(tag), k) end
          end
        end
      end
    end
    if f[5] then
      local ok, meta = pcall(cjson.decode, f[5])
      if not (ok and type(meta) == "table" and string.sub(f[5], 1, 1) == "{") then report(k, "damaged m") end
    end
  end
end
if #batch < tonumber(ARGV[3]) then out[1] = 1 end
return out
`
)

/**
 * `check` of entry hashes found by `SCAN`: `ARGV`: fix ("1" repairs), keys. A hash whose key is not in the index is
 * `"unindexed"` (fix: index it, with its expiry). Returns `{ key1, problem1, ... }`.
 *
 * @internal
 */
export const checkEntries = script(
  "checkEntries",
  ["ekey"],
  `local fix = ARGV[1] == "1"
local out = {}
for i = 2, #ARGV do
  local k = ARGV[i]
  if not redis.call("ZSCORE", I, k) and redis.call("TYPE", ekey(k))["ok"] == "hash" then
    out[#out + 1] = k
    out[#out + 1] = "unindexed"
    if fix then
      redis.call("ZADD", I, 0, k)
      local x = tonumber(redis.call("HGET", ekey(k), "x") or "")
      if x then redis.call("ZADD", X, x, k) end
    end
  end
end
return out
`
)

/**
 * `SSCAN` steps of `check` over tag sets, as many as fit a budget. `ARGV`: fix ("1" repairs, "2" removes left-overs only, as the sweeper does after Redis dropped entries by itself), `SSCAN` count, the most
 * members to examine (at least one tag set is stepped), then pairs of tag and cursor. A member whose entry exists
 * without the tag is `"stale tag"` (a defect); a member whose entry is gone (expired natively) is left-over, not a
 * defect. Fix removes both; the members of an entry whose tags field is damaged stay. Each entry's tags are decoded
 * once per call into a set, so an entry with many tags costs its tag count once per call, not once per tag (the
 * per-tag decoding made `check` quadratic in an entry's tags). Returns `{ tag sets stepped (a prefix of the pairs),
 * left-over count, next cursor of each stepped set, key1, problem1, ... }`.
 *
 * @internal
 */
export const checkTags = script(
  "checkTags",
  ["ekey", "tkey"],
  `local fix = ARGV[1] == "1"
local leftOvers = fix or ARGV[1] == "2"
local count, budget = tonumber(ARGV[2]), tonumber(ARGV[3])
local carried = {}
local function tagsOf(k)
  local known = carried[k]
  if known ~= nil then return known end
  local e = ekey(k)
  local f = redis.call("HMGET", e, "c", "t")
  -- An entry whose tags do not parse keeps its memberships (checkIndex reports the damage).
  local entry = { readable = true, set = {}, exists = (f[1] or f[2]) and true or false, e = e }
  if f[2] then
    local ok, tags = pcall(cjson.decode, f[2])
    entry.readable = ok and type(tags) == "table"
    if entry.readable then
      for _, tag in ipairs(tags) do
        if type(tag) == "string" then entry.set[tag] = true end
      end
    end
  end
  carried[k] = entry
  return entry
end
local cursors, problems, leftOver, seen = {}, {}, 0, 0
local i = 4
while i < #ARGV and (seen < budget or #cursors == 0) do
  local tag = ARGV[i]
  local T = tkey(tag)
  local res = redis.call("SSCAN", T, ARGV[i + 1], "COUNT", count)
  cursors[#cursors + 1] = res[1]
  for _, k in ipairs(res[2]) do
    seen = seen + 1
    local entry = tagsOf(k)
    if entry.readable and not entry.set[tag] then
      if entry.exists or redis.call("EXISTS", entry.e) == 1 then
        problems[#problems + 1] = k
        problems[#problems + 1] = "stale tag"
      else
        leftOver = leftOver + 1
        if leftOvers then redis.call("SREM", T, k) end
      end
      if fix then redis.call("SREM", T, k) end
    end
  end
  i = i + 2
end
local out = { #cursors, leftOver }
for _, cursor in ipairs(cursors) do out[#out + 1] = cursor end
for _, item in ipairs(problems) do out[#out + 1] = item end
return out
`
)

/**
 * The prefix of the error reply of a fenced script whose lease is not held.
 *
 * @internal
 */
export const FENCE_REPLY = "EKVFENCE"

// The check of a fenced variant, before the script's own body: it takes the holder's slot off the end of ARGV, so the
// body reads its usual arguments.
const fenceCheck = `local held = redis.call("ZSCORE", KEYS[2], table.remove(ARGV))
if not held or tonumber(held) <= tonumber(ARGV[1]) then
  return redis.error_reply("${FENCE_REPLY} the lock's lease is not held")
end
`

const withFence = (base: Script): Script => {
  const lua = header + fenceCheck + base.lua.slice(header.length)
  return { name: `${base.name} (fenced)`, lua, sha: crypto.createHash("sha1").update(lua).digest("hex") }
}

const fencedVariants = new Map<Script, Script>(
  [set, setSimple, setMany, setManySimple, apply, remove, touch].map((s) => [s, withFence(s)])
)

/**
 * The fenced variant of a writing script (see the module comment): `KEYS[2]` is the lease set, the last `ARGV` the
 * holder's slot.
 *
 * @internal
 */
export const fenced = (base: Script): Script => {
  const variant = fencedVariants.get(base)
  if (variant === undefined) throw new Error(`effect-kv: the script ${base.name} has no fenced variant`)
  return variant
}

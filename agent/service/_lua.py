"""The Redis side of the job store: one Lua script per step that must be atomic.

Every script takes the key prefix as ARGV[1] and builds its key names from it (one Redis
instance per deployment or location; these scripts are not meant for Redis Cluster).
Field maps travel as JSON objects of strings. Keys (P = prefix):

  P:job:<id>      hash    the job (see `JobRecord`)
  P:lease:<id>    string  "<worker>|<fence>" with a TTL: the lease
  P:jobs          stream  one entry per job to run, read by the group `workers`
  P:all           zset    every job by creation sequence (listing)
  P:state:<s>     zset    jobs in state <s> by creation sequence (listing by state)
  P:schedule      zset    scheduled jobs by `join_at`
  P:seq           counter creation sequence
  P:idem:<key>    string  job id of an Idempotency-Key (with a TTL)
  P:stop          channel job ids to stop (pub/sub)
"""

from __future__ import annotations

# Shared helpers, prepended to the scripts that change fields.
_HELPERS = """
local P = ARGV[1]
local function jobkey(id) return P .. ':job:' .. id end
local function set_fields(id, changes)
  local job = jobkey(id)
  local new = changes['state']
  if new then
    local old = redis.call('HGET', job, 'state')
    if old ~= new then
      local seq = redis.call('HGET', job, 'seq')
      if old and old ~= '' then redis.call('ZREM', P .. ':state:' .. old, id) end
      redis.call('ZADD', P .. ':state:' .. new, seq, id)
    end
  end
  local args = {}
  for k, v in pairs(changes) do
    args[#args + 1] = k
    args[#args + 1] = v
  end
  if #args > 0 then redis.call('HSET', job, unpack(args)) end
end
local function enqueue(id, maxlen)
  return redis.call('XADD', P .. ':jobs', 'MAXLEN', '~', maxlen, '*', 'id', id)
end
local function terminal(state) return state == 'left' or state == 'failed' end
"""

# ARGV: P, id, fields(json), idempotency key or "", idem ttl, scheduled(1/0), join_at, maxlen
# -> {1 made | 0 replayed, id, the job's hash}
CREATE = (
    _HELPERS
    + """
local id = ARGV[2]
local idem = ARGV[4]
if idem ~= '' then
  local existing = redis.call('GET', P .. ':idem:' .. idem)
  if existing then return {0, existing, redis.call('HGETALL', jobkey(existing))} end
end
local seq = redis.call('INCR', P .. ':seq')
local fields = cjson.decode(ARGV[3])
fields['seq'] = tostring(seq)
fields['state'] = nil
set_fields(id, fields)
redis.call('ZADD', P .. ':all', seq, id)
if ARGV[6] == '1' then
  set_fields(id, {state = 'scheduled'})
  redis.call('ZADD', P .. ':schedule', ARGV[7], id)
else
  local entry = enqueue(id, ARGV[8])
  set_fields(id, {state = 'queued', entry = entry})
end
if idem ~= '' then redis.call('SET', P .. ':idem:' .. idem, id, 'EX', ARGV[5]) end
return {1, id, redis.call('HGETALL', jobkey(id))}
"""
)

# ARGV: P, id, entry, worker, lease ms, now, group
# -> {-1} over/stale (entry acked), {0} someone holds it, {fence, on_node, token_s, hash}
ACQUIRE = (
    _HELPERS
    + """
local id, entry, worker, group = ARGV[2], ARGV[3], ARGV[4], ARGV[7]
local job = jobkey(id)
local stream = P .. ':jobs'
if redis.call('EXISTS', job) == 0 then
  redis.call('XACK', stream, group, entry)
  return {-1}
end
local state, current, leave = unpack(redis.call('HMGET', job, 'state', 'entry', 'leave_requested'))
if terminal(state) or current ~= entry then
  redis.call('XACK', stream, group, entry)
  return {-1}
end
local lease = P .. ':lease:' .. id
if redis.call('EXISTS', lease) == 1 then return {0} end
if leave == '1' then
  set_fields(id, {state = 'left', detail = 'stopped before it could be resumed',
                  ended_at = ARGV[6], worker = '', exit_code = '0'})
  redis.call('XACK', stream, group, entry)
  return {-1}
end
local on_node, token_s = unpack(redis.call('HMGET', job, 'on_node', 'token_seconds'))
local fence = redis.call('HINCRBY', job, 'fence', 1)
redis.call('HINCRBY', job, 'attempts', 1)
redis.call('SET', lease, worker .. '|' .. fence, 'PX', ARGV[5])
set_fields(id, {state = 'joining', worker = worker, claimed_at = ARGV[6], on_node = '1',
                detail = ''})
return {fence, on_node or '0', token_s or '', redis.call('HGETALL', job)}
"""
)

# ARGV: P, group, lease ms, consumer, then (id, token, entry) per lease
# -> per lease: 0 lost, 1 held, 2 held and a stop was requested
RENEW = """
local P, group, ms, consumer = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local stream = P .. ':jobs'
local out = {}
for i = 5, #ARGV, 3 do
  local id, token, entry = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local lease = P .. ':lease:' .. id
  if redis.call('GET', lease) == token then
    redis.call('PEXPIRE', lease, ms)
    -- Claiming its own entry again resets the entry's idle time: a live worker's jobs
    -- never look abandoned to XAUTOCLAIM.
    redis.call('XCLAIM', stream, group, consumer, 0, entry, 'JUSTID')
    if redis.call('HGET', P .. ':job:' .. id, 'leave_requested') == '1' then
      out[#out + 1] = 2
    else
      out[#out + 1] = 1
    end
  else
    out[#out + 1] = 0
  end
end
return out
"""

# ARGV: P, id, fence, changes(json) -> 1 written, 0 fenced off
UPDATE = (
    _HELPERS
    + """
local id = ARGV[2]
if redis.call('HGET', jobkey(id), 'fence') ~= ARGV[3] then return 0 end
set_fields(id, cjson.decode(ARGV[4]))
return 1
"""
)

# ARGV: P, id, fence, token, entry, group, changes(json), retention s -> 1 / 0 fenced off
FINISH = (
    _HELPERS
    + """
local id = ARGV[2]
local job = jobkey(id)
if redis.call('HGET', job, 'fence') ~= ARGV[3] then return 0 end
set_fields(id, cjson.decode(ARGV[7]))
local lease = P .. ':lease:' .. id
if redis.call('GET', lease) == ARGV[4] then redis.call('DEL', lease) end
redis.call('XACK', P .. ':jobs', ARGV[6], ARGV[5])
redis.call('EXPIRE', job, ARGV[8])
return 1
"""
)

# ARGV: P, id, fence, token, entry, group, changes(json), maxlen -> 1 / 0 fenced off
HAND_BACK = (
    _HELPERS
    + """
local id = ARGV[2]
if redis.call('HGET', jobkey(id), 'fence') ~= ARGV[3] then return 0 end
redis.call('XACK', P .. ':jobs', ARGV[6], ARGV[5])
local changes = cjson.decode(ARGV[7])
changes['entry'] = enqueue(id, ARGV[8])
changes['state'] = 'queued'
changes['worker'] = ''
set_fields(id, changes)
local lease = P .. ':lease:' .. id
if redis.call('GET', lease) == ARGV[4] then redis.call('DEL', lease) end
return 1
"""
)

# ARGV: P, id, entry, group, maxlen: an entry read but not acquired, queued again.
REQUEUE = (
    _HELPERS
    + """
local id, entry = ARGV[2], ARGV[3]
redis.call('XACK', P .. ':jobs', ARGV[4], entry)
if redis.call('HGET', jobkey(id), 'entry') == entry then
  set_fields(id, {entry = enqueue(id, ARGV[5])})
end
return 1
"""
)

# ARGV: P, id, now -> not_found | finished | cancelled | requested
LEAVE = (
    _HELPERS
    + """
local id = ARGV[2]
local job = jobkey(id)
if redis.call('EXISTS', job) == 0 then return 'not_found' end
local state = redis.call('HGET', job, 'state')
if terminal(state) then return 'finished' end
redis.call('HSET', job, 'leave_requested', '1')
if (state == 'queued' or state == 'scheduled')
    and redis.call('EXISTS', P .. ':lease:' .. id) == 0 then
  set_fields(id, {state = 'left', detail = 'stopped before it started', ended_at = ARGV[3],
                  exit_code = '0'})
  redis.call('ZREM', P .. ':schedule', id)
  return 'cancelled'
end
redis.call('PUBLISH', P .. ':stop', id)
return 'requested'
"""
)

# ARGV: P, now, limit, maxlen -> how many scheduled jobs were queued
PROMOTE = (
    _HELPERS
    + """
local ids = redis.call('ZRANGEBYSCORE', P .. ':schedule', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do
  redis.call('ZREM', P .. ':schedule', id)
  if redis.call('HGET', jobkey(id), 'state') == 'scheduled' then
    set_fields(id, {state = 'queued', entry = enqueue(id, ARGV[4])})
  end
end
return #ids
"""
)

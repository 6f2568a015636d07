"""The compiled inner loops of the ConceptNet ingest (numba): find the English rows of a block, and give names ids.

Both run without the GIL, so one thread scans while another inflates. Numba compiles them on first use and
caches the machine code (``cache=True``), so later runs start at once.

* :func:`scan_block` compares a block's bytes 64 at a time (one vector compare) and visits only its control
  bytes (one in about sixty): each line's four tabs and its newline. A line with other than four tabs is reported,
  not scanned; a line whose relation starts ``/r/`` and whose start and end are ``/c/en/NAME`` (NAME not empty)
  is kept.
* :func:`read_infos` reads the kept rows' JSON info columns for their weight and surface text. It accepts only
  what it can prove valid JSON (ASCII, numbers that convert exactly on the fast path, a surface text without
  escapes); any other row is left to the caller's JSON library, which decides, so nothing invalid gets through.
* :class:`NameTable` gives each distinct name (a concept, or a relation) the next id, in order of first lookup:
  an open-addressing table whose 32-byte rows hold a name's first 24 bytes, its length and its id, so that most
  lookups touch one cache line (the rows of 64 lookups are loaded together, so that their misses overlap); longer
  names are compared with their stored bytes. Ids are exact: equal hashes never stand in for equal names.
* :func:`argsort_keys` is a radix sort of the edges' keys for the index writer.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_HIGH = np.uint64(0x8080808080808080)
_ONE = np.uint64(1)
_TAB, _NEWLINE, _SLASH, _OPEN, _CLOSE = 9, 10, 47, 123, 125
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))
_LOW32 = np.uint64(0xFFFFFFFF)

# Tests set this to 0, which gives every name the same hash: ids must come out the same.
HASH_MASK = 0xFFFFFFFFFFFFFFFF

ROW_FIELDS = 6  # per kept row: its four tabs, its newline, its line number in the block


@intrinsic
def _below(typingctx, array, index, limit):
    """A bit for each of the 64 bytes of a uint8 array from ``index`` on: set where the byte is below ``limit``.
    One unaligned vector load and one vector compare (on x86, a few instructions per 64 bytes, where eight-byte
    tricks take several per eight)."""

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        vector = ir.VectorType(ir.IntType(8), 64)
        loaded = builder.load(builder.bitcast(builder.gep(data, [args[1]]), vector.as_pointer()), align=1)
        lane = ir.Constant(ir.IntType(32), 0)
        limit = builder.insert_element(ir.Constant(vector, ir.Undefined), builder.trunc(args[2], ir.IntType(8)), lane)
        limit = builder.shuffle_vector(
            limit, ir.Constant(vector, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), 64), [0] * 64)
        )
        return builder.bitcast(builder.icmp_unsigned("<", loaded, limit), ir.IntType(64))  # lane i: bit i

    return types.uint64(array, index, types.int64), codegen


@numba.njit(nogil=True, cache=True, inline="always")
def _english(buf: np.ndarray, at: int) -> bool:
    """Whether the column at ``at`` is ``/c/en/`` and a name (a tab or slash right after is no name). Every
    column ends with a tab or newline, which differs from each byte compared, so no read passes the line."""
    return (
        buf[at] == 47
        and buf[at + 1] == 99
        and buf[at + 2] == 47
        and buf[at + 3] == 101
        and buf[at + 4] == 110
        and buf[at + 5] == 47
        and buf[at + 6] != 47
        and buf[at + 6] != 9
    )


@numba.njit(nogil=True, cache=True)
def scan_block(buf: np.ndarray, size: int, rows: np.ndarray, bad: np.ndarray) -> tuple[int, int, int]:
    """Find the English rows of the lines ``buf[:size]`` (which ends with a newline; 64 readable bytes follow).

    Args:
        buf: the block's bytes.
        size: how many of them are lines.
        rows: ``(lines, 6)`` out: each kept row's tab positions, newline position and line number in the block.
        bad: ``(n, 3)`` out: each line without exactly four tabs: its line number, first byte, tab count (the
            first ``n`` such lines; all are counted).

    Returns:
        (lines, kept rows, bad lines).
    """
    if len(buf) < (size + 63) // 64 * 64:
        raise ValueError("scan_block needs 64 readable bytes after the lines")
    lines = kept = wrong = tabs = 0
    line_start = 0
    t0 = t1 = t2 = t3 = 0
    for chunk in range((size + 63) // 64):
        found = _below(buf, chunk * 64, 11)  # one bit per byte below 11 (tab, newline) in the next 64
        while found:
            at = chunk * 64 + trailing_zeros(found)
            found &= found - _ONE
            if at >= size:
                break
            byte = buf[at]
            if byte == _TAB:
                if tabs == 0:
                    t0 = at
                elif tabs == 1:
                    t1 = at
                elif tabs == 2:
                    t2 = at
                elif tabs == 3:
                    t3 = at
                tabs += 1
            elif byte == _NEWLINE:
                if tabs != 4:
                    if wrong < bad.shape[0]:  # the caller reads the block line by line when there are more
                        bad[wrong, 0], bad[wrong, 1], bad[wrong, 2] = lines, line_start, tabs
                    wrong += 1
                elif (
                    _english(buf, t2 + 1)  # the end concept first: fewest rows pass it
                    and _english(buf, t1 + 1)
                    and buf[t0 + 1] == 47
                    and buf[t0 + 2] == 114
                    and buf[t0 + 3] == 47
                    and buf[t0 + 4] != 9
                ):
                    rows[kept, 0], rows[kept, 1], rows[kept, 2], rows[kept, 3] = t0, t1, t2, t3
                    rows[kept, 4], rows[kept, 5] = at, lines
                    kept += 1
                lines += 1
                tabs = 0
                line_start = at + 1
    return lines, kept, wrong


# ------------------------------------------------------------------------------------------- info columns
#
# A row's info column ends at its newline, which no rule below accepts, so every rule stops there: no read
# passes the row. A rule returns the position after what it read, or -1 when the row is not for the fast path.

_QUOTE, _BACKSLASH, _COLON, _COMMA, _MINUS, _ZERO, _NINE = 34, 92, 58, 44, 45, 48, 57
_OPEN_ARRAY, _CLOSE_ARRAY = 91, 93
_DEPTH = 32  # nesting the fast path follows; deeper values are left to the JSON library
_EXACT_POWERS = np.array([10.0**power for power in range(23)])  # every power of ten a float64 holds exactly
_WEIGHT_KEY = np.frombuffer(b"weight", np.uint8)
_SURFACE_KEY = np.frombuffer(b"surfaceText", np.uint8)
_TRUE, _FALSE, _NULL = (np.frombuffer(word, np.uint8) for word in (b"true", b"false", b"null"))


@numba.njit(nogil=True, cache=True, inline="always")
def _space(buf: np.ndarray, at: int) -> int:
    while buf[at] == 32 or buf[at] == 13:  # a tab or newline cannot be in a row's last column
        at += 1
    return at


@intrinsic
def _load8(typingctx, array, index):
    """The eight bytes of a uint8 array from ``index`` on, as one little-endian number, in one unaligned load."""

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        pointer = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(pointer, align=1)

    return types.uint64(array, index), codegen


_QUOTES = np.uint64(0x2222222222222222)
_BACKSLASHES = np.uint64(0x5C5C5C5C5C5C5C5C)
_BELOW_32 = np.uint64(0x6060606060606060)  # 0x80 - 32 in each byte


@numba.njit(nogil=True, cache=True, inline="always")
def _special(word: np.uint64) -> np.uint64:
    """0x80 in each of a word's bytes that ends a string's plain run: a quote, a backslash, a control byte
    (below 32) or a byte of a UTF-8 sequence (128 and up); 0 elsewhere. Exact per byte: no carry crosses bytes."""
    low = word & _LOW7
    quote = (low ^ (_QUOTES & _LOW7)) + _LOW7
    backslash = (low ^ (_BACKSLASHES & _LOW7)) + _LOW7
    # bit 7 of quote/backslash is set where the low seven bits differ from the quote's/backslash's; bit 7 of
    # the sum with _BELOW_32 is set where the low seven bits are 32 or more
    return (~(quote & backslash & (low + _BELOW_32)) | word) & _HIGH


@numba.njit(nogil=True, cache=True, inline="always")
def _string(buf: np.ndarray, at: int) -> tuple[int, bool]:
    """After the string whose opening quote is at ``at``; and whether it holds an escape."""
    at += 1
    escaped = False
    while True:
        special = _special(_load8(buf, at))  # eight bytes at a time (the reads may pass the row's end: see PAD)
        while special == 0:
            at += 8
            special = _special(_load8(buf, at))
        at += trailing_zeros(special) >> 3  # the first byte that is not plain
        byte = buf[at]
        if byte == _QUOTE:
            return at + 1, escaped
        if byte == _BACKSLASH:
            escaped = True
            byte = buf[at + 1]
            if byte == 117:  # \uXXXX
                for j in range(at + 2, at + 6):
                    hexa = buf[j]
                    if not (48 <= hexa <= 57 or 65 <= hexa <= 70 or 97 <= hexa <= 102):
                        return -1, escaped
                at += 6
            elif byte in (34, 92, 47, 98, 102, 110, 114, 116):  # " \ / b f n r t
                at += 2
            else:
                return -1, escaped
        elif byte < 32 or byte >= 128:  # a control byte is invalid; UTF-8 is left to the JSON library
            return -1, escaped
        else:
            at += 1


@numba.njit(nogil=True, cache=True, inline="always")
def _number(buf: np.ndarray, at: int) -> tuple[int, float]:
    """After the number at ``at``; and its value, or NaN when it does not convert exactly on the fast path (at
    most 15 significant digits, times or divided by an exact power of ten: one rounding, the correct one)."""
    negative = buf[at] == _MINUS
    if negative:
        at += 1
    mantissa = digits = scale = 0
    if buf[at] == _ZERO:
        at += 1
    elif 49 <= buf[at] <= _NINE:
        while _ZERO <= buf[at] <= _NINE:
            mantissa, digits = mantissa * 10 + (buf[at] - _ZERO), digits + (mantissa > 0 or buf[at] != _ZERO)
            at += 1
    else:
        return -1, np.nan
    if buf[at] == 46:  # .
        at += 1
        if not _ZERO <= buf[at] <= _NINE:
            return -1, np.nan
        while _ZERO <= buf[at] <= _NINE:
            if digits < 16:  # past 15 digits the value is not converted here: stop growing the mantissa
                mantissa, digits = mantissa * 10 + (buf[at] - _ZERO), digits + (mantissa > 0 or buf[at] != _ZERO)
                scale -= 1
            at += 1
    if buf[at] == 101 or buf[at] == 69:  # e E
        at += 1
        sign = 1
        if buf[at] == 43 or buf[at] == _MINUS:
            sign = -1 if buf[at] == _MINUS else 1
            at += 1
        if not _ZERO <= buf[at] <= _NINE:
            return -1, np.nan
        exponent = 0
        while _ZERO <= buf[at] <= _NINE:
            exponent = min(exponent * 10 + (buf[at] - _ZERO), 100_000)
            at += 1
        scale += sign * exponent
    if digits > 15 or (mantissa and not -22 <= scale <= 22):
        return at, np.nan
    value = float(mantissa)
    if mantissa:
        value = value * _EXACT_POWERS[scale] if scale >= 0 else value / _EXACT_POWERS[-scale]
    return at, -value if negative else value


@numba.njit(nogil=True, cache=True, inline="always")
def _word_at(buf: np.ndarray, at: int, word: np.ndarray) -> bool:
    for j in range(len(word)):  # noqa: SIM110  (numba compiles the loop, not all() over a generator)
        if buf[at + j] != word[j]:
            return False
    return True


@numba.njit(nogil=True, cache=True, inline="always")
def _scalar(buf: np.ndarray, at: int) -> int:
    """After the string, number or literal at ``at`` (-1: none, or not for the fast path)."""
    byte = buf[at]
    if byte == _QUOTE:
        return _string(buf, at)[0]
    if byte == _MINUS or _ZERO <= byte <= _NINE:
        return _number(buf, at)[0]
    if _word_at(buf, at, _TRUE) or _word_at(buf, at, _NULL):
        return at + 4
    return at + 5 if _word_at(buf, at, _FALSE) else -1


@numba.njit(nogil=True, cache=True, inline="always")
def _key_colon(buf: np.ndarray, at: int) -> int:
    """After the ``"key" :`` of an object member at ``at``, and any space after it."""
    if buf[at] != _QUOTE:
        return -1
    at = _string(buf, at)[0]
    if at < 0:
        return -1
    at = _space(buf, at)
    return _space(buf, at + 1) if buf[at] == _COLON else -1


@numba.njit(nogil=True, cache=True)
def _value(buf: np.ndarray, at: int, stack: np.ndarray) -> int:
    """After the JSON value at ``at`` (any nesting up to :data:`_DEPTH`, followed with an explicit stack)."""
    depth = 0
    while True:
        byte = buf[at]
        if byte == _OPEN or byte == _OPEN_ARRAY:  # noqa: SIM109  (numba) a container: its first member or end
            close = _CLOSE if byte == _OPEN else _CLOSE_ARRAY
            at = _space(buf, at + 1)
            if buf[at] == close:
                at += 1
            else:
                if depth == _DEPTH:
                    return -1
                stack[depth] = close
                depth += 1
                if close == _CLOSE:
                    at = _key_colon(buf, at)
                    if at < 0:
                        return -1
                continue
        else:
            at = _scalar(buf, at)
            if at < 0:
                return -1
        while True:  # a value ended: what follows it in the containers it is in
            if depth == 0:
                return at
            at = _space(buf, at)
            if buf[at] == _COMMA:
                at = _space(buf, at + 1)
                if stack[depth - 1] == _CLOSE:
                    at = _key_colon(buf, at)
                    if at < 0:
                        return -1
                break
            if buf[at] != stack[depth - 1]:
                return -1
            at += 1
            depth -= 1


@numba.njit(nogil=True, cache=True)
def _info(buf: np.ndarray, at: int, end: int, stack: np.ndarray) -> tuple[bool, float, int, int]:
    """Read one info column ``buf[at:end]``: (fast path taken, weight, surface text start and end; -1, -1 for
    none). The column must be one object with one numeric ``weight`` and at most one ``surfaceText``, a string
    without escapes or null."""
    no = (False, 0.0, -1, -1)
    weight, text_start, text_end = np.nan, -1, -1
    seen_text = False
    at = _space(buf, at)
    if buf[at] != _OPEN:
        return no
    at = _space(buf, at + 1)
    if buf[at] != _CLOSE:
        while True:
            if buf[at] != _QUOTE:
                return no
            key_end, escaped = _string(buf, at)
            if key_end < 0 or escaped:  # an escaped key might spell one of the two
                return no
            key = at + 1
            length = key_end - 1 - key
            at = _space(buf, key_end)
            if buf[at] != _COLON:
                return no
            at = _space(buf, at + 1)
            if length == len(_WEIGHT_KEY) and _word_at(buf, key, _WEIGHT_KEY):
                if not np.isnan(weight) or not (buf[at] == _MINUS or _ZERO <= buf[at] <= _NINE):
                    return no
                at, weight = _number(buf, at)
                if np.isnan(weight):
                    return no
            elif length == len(_SURFACE_KEY) and _word_at(buf, key, _SURFACE_KEY):
                if seen_text:
                    return no
                seen_text = True
                if buf[at] == _QUOTE:
                    after, escaped = _string(buf, at)
                    if after < 0 or escaped:
                        return no
                    text_start, text_end, at = at + 1, after - 1, after
                elif _word_at(buf, at, _NULL):
                    at += 4
                else:
                    return no
            else:
                at = _value(buf, at, stack)
                if at < 0:
                    return no
            at = _space(buf, at)
            if buf[at] == _COMMA:
                at = _space(buf, at + 1)
                continue
            if buf[at] != _CLOSE:
                return no
            break
    if _space(buf, at + 1) != end or np.isnan(weight):
        return no
    return True, weight, text_start, text_end


@numba.njit(nogil=True, cache=True)
def _read_infos(
    buf: np.ndarray, rows: np.ndarray, weights: np.ndarray, lengths: np.ndarray, texts: np.ndarray, slow: np.ndarray
) -> tuple[int, int]:
    stack = np.empty(_DEPTH, np.uint8)
    used = others = 0
    for row in range(len(rows)):
        fast, weight, start, end = _info(buf, rows[row, 3] + 1, rows[row, 4], stack)
        if not fast:
            slow[others] = row
            others += 1
            weights[row], lengths[row] = np.nan, 0
            continue
        weights[row] = weight
        length = end - start if start >= 0 else 0
        for j in range(length):
            texts[used + j] = buf[start + j]
        lengths[row] = length
        used += length
    return used, others


def read_infos(buf: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, bytes, np.ndarray]:
    """Weights and surface texts of the rows ``rows`` (filled by :func:`scan_block` from ``buf``).

    Returns:
        (weights, each text's length in bytes, the texts one after another, the rows left to a JSON library:
        indices into ``rows``, whose weight is NaN and text empty here).
    """
    count = len(rows)
    weights, lengths = np.empty(count, np.float64), np.empty(count, np.int64)
    texts = np.empty(int((rows[:, 4] - rows[:, 3]).sum()) if count else 0, np.uint8)
    slow = np.empty(count, np.int64)
    used, others = _read_infos(buf, rows, weights, lengths, texts, slow)
    return weights, lengths, texts[:used].tobytes(), slow[:others]


@numba.njit(nogil=True, cache=True, inline="always")
def _word(buf: np.ndarray, start: int, length: int) -> np.uint64:
    """Up to eight bytes from ``start`` (``length`` of them, at most 8, maybe none) as a little-endian number.
    It reads eight bytes whatever ``length`` is: the caller leaves room after the end."""
    if length <= 0:
        return np.uint64(0)
    word = _load8(buf, start)
    return word if length >= 8 else word & ((_ONE << np.uint64(8 * length)) - _ONE)


_INLINE = 24  # bytes of a name its table row holds (nearly every ConceptNet name fits); the rest is compared apart


@numba.njit(nogil=True, cache=True, inline="always")
def _key(
    buf: np.ndarray, start: int, length: int, hash_mask: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """A name's first three words (as its table row holds them) and its hash."""
    first, second = _word(buf, start, length), _word(buf, start + 8, length - 8)
    third = _word(buf, start + 16, length - 16)
    hashed = (first * _MIX[0]) ^ np.uint64(length)
    hashed = ((hashed ^ (hashed >> np.uint64(29))) ^ second) * _MIX[1]
    hashed = ((hashed ^ (hashed >> np.uint64(29))) ^ third) * _MIX[2]
    for at in range(_INLINE, length, 8):
        hashed = ((hashed ^ (hashed >> np.uint64(29))) ^ _word(buf, start + at, length - at)) * _MIX[2]
    return first, second, third, (hashed ^ (hashed >> np.uint64(32))) & hash_mask


@numba.njit(nogil=True, cache=True)
def _lookup(
    buf: np.ndarray,
    start: int,
    length: int,
    key: tuple[np.uint64, np.uint64, np.uint64, np.uint64],
    table: np.ndarray,
    offsets: np.ndarray,
    names: np.ndarray,
    state: np.ndarray,
) -> int:
    """The id of the name ``buf[start : start + length]`` (whose :func:`_key` is ``key``), a new one if it is new."""
    first, second, third, hashed = key
    wanted = (np.uint64(length) << np.uint64(32)) | _LOW32  # the length part of a row's last word
    mask = np.uint64(table.shape[0] - 1)
    slot = np.int64(hashed & mask)
    while True:
        info = table[slot, 3]
        if info == 0:  # a new name: the next id, its bytes stored after the others, each ending in a newline
            new, used = state[0], state[1]
            table[slot, 0], table[slot, 1], table[slot, 2] = first, second, third
            table[slot, 3] = (np.uint64(length) << np.uint64(32)) | np.uint64(new + 1)
            for j in range(length):
                names[used + j] = buf[start + j]
            names[used + length] = _NEWLINE
            offsets[new] = used
            state[0], state[1] = new + 1, used + length + 1
            return new
        if table[slot, 0] == first and table[slot, 1] == second and table[slot, 2] == third and info | _LOW32 == wanted:
            found = np.int64(info & _LOW32) - 1
            if length <= _INLINE:  # the row holds the whole name
                return found
            same = True
            stored = offsets[found]
            for j in range(_INLINE, length):
                if names[stored + j] != buf[start + j]:
                    same = False
                    break
            if same:
                return found
        slot = np.int64((np.uint64(slot) + _ONE) & mask)


@numba.njit(nogil=True, cache=True)
def _rehash(old: np.ndarray, new: np.ndarray, offsets: np.ndarray, names: np.ndarray, hash_mask: np.uint64) -> None:
    """Move every name's row of ``old`` into the larger table ``new`` (hashing its stored bytes again)."""
    mask = np.uint64(new.shape[0] - 1)
    for row in range(old.shape[0]):
        info = old[row, 3]
        if info != 0:
            length = np.int64(info >> np.uint64(32))
            hashed = _key(names, offsets[np.int64(info & _LOW32) - 1], length, hash_mask)[3]
            slot = np.int64(hashed & mask)
            while new[slot, 3] != 0:
                slot = np.int64((np.uint64(slot) + _ONE) & mask)
            new[slot, :] = old[row, :]


_BATCH = 64  # rows whose table rows are loaded together before any is looked up


@numba.njit(nogil=True, cache=True, inline="always")
def _name_end(buf: np.ndarray, begin: int, end: int) -> int:
    """Where a concept's name starting at ``begin`` ends: at its first ``/``, or ``end``, its column's end."""
    stop = begin
    while stop < end and buf[stop] != _SLASH:
        stop += 1
    return stop


@numba.njit(nogil=True, cache=True)
def _intern_rows(
    buf: np.ndarray,
    rows: np.ndarray,
    keep: np.ndarray,
    heads: np.ndarray,
    tails: np.ndarray,
    rels: np.ndarray,
    concepts: tuple,
    relations: tuple,
    hash_mask: np.uint64,
) -> None:
    table, offsets, names, state = concepts
    spans = np.empty((2 * _BATCH, 2), np.int64)
    keys = np.empty((2 * _BATCH, 4), np.uint64)
    mask = np.uint64(table.shape[0] - 1)
    for begin in range(0, len(keep), _BATCH):
        end = min(begin + _BATCH, len(keep))
        # Each lookup's table row is far from the last one (the table is larger than the caches): load the rows of
        # a batch first, in loads that do not wait for each other, so that their misses overlap.
        warm = np.uint64(0)
        for at in range(end - begin):
            row = keep[begin + at]
            for side in range(2):  # "\t/c/en/" is 7 bytes; the start concept's column ends at the third tab
                start = rows[row, 1 + side] + 7
                spans[2 * at + side, 0] = start
                spans[2 * at + side, 1] = _name_end(buf, start, rows[row, 2 + side]) - start
                key = _key(buf, start, spans[2 * at + side, 1], hash_mask)
                for word in range(4):
                    keys[2 * at + side, word] = key[word]
        for at in range(2 * (end - begin)):  # a tight loop of independent loads: many misses in flight at once
            warm ^= table[np.int64(keys[at, 3] & mask), 3]
        if warm == np.uint64(1) << np.uint64(63):  # never true (ids fit 32 bits): only keeps the loads
            return
        for at in range(end - begin):
            row, out = keep[begin + at], begin + at
            for side in range(2):
                key = (keys[2 * at + side, 0], keys[2 * at + side, 1], keys[2 * at + side, 2], keys[2 * at + side, 3])
                found = _lookup(
                    buf, spans[2 * at + side, 0], spans[2 * at + side, 1], key, table, offsets, names, state
                )
                if side == 0:
                    heads[out] = found
                else:
                    tails[out] = found
            t0, t1 = rows[row, 0], rows[row, 1]  # the relation: after "\t/r/", up to the next tab
            key = _key(buf, t0 + 4, t1 - t0 - 4, hash_mask)
            rels[out] = _lookup(buf, t0 + 4, t1 - t0 - 4, key, *relations)


_DIGIT = 16  # bits sorted per pass of the radix sort: its counts (512 KiB) stay in a core's cache


@numba.njit(nogil=True, cache=True)
def _radix_argsort(keys: np.ndarray, bits: int) -> np.ndarray:
    count = len(keys)
    order, spare = np.arange(count), np.empty(count, np.int64)
    keys, other = keys.copy(), np.empty(count, np.int64)
    for shift in range(0, bits, _DIGIT):
        starts = np.zeros((1 << _DIGIT) + 1, np.int64)
        for at in range(count):
            starts[((keys[at] >> shift) & ((1 << _DIGIT) - 1)) + 1] += 1
        for digit in range(1 << _DIGIT):
            starts[digit + 1] += starts[digit]
        for at in range(count):
            digit = (keys[at] >> shift) & ((1 << _DIGIT) - 1)
            place = starts[digit]
            starts[digit] = place + 1
            other[place], spare[place] = keys[at], order[at]
        keys, other, order, spare = other, keys, spare, order
    return order


def argsort_keys(keys: np.ndarray, bits: int) -> np.ndarray:
    """The stable order that sorts non-negative int64 ``keys`` below ``2**bits`` (a radix sort: several times
    faster than numpy's comparison sorts on millions of keys)."""
    return _radix_argsort(np.ascontiguousarray(keys, np.int64), bits)


class NameTable:
    """Distinct names and their ids (0, 1, ... in order of first lookup), kept in numpy arrays for the kernels.

    Args:
        capacity: names to make room for at first (it grows as needed).
    """

    def __init__(self, capacity: int = 1 << 12) -> None:
        self.table = _rows(2 * capacity)  # per name: its first 24 bytes, its length and id
        self.offsets = np.zeros(capacity, np.int64)  # where each name's bytes start in `names`
        self.names = np.zeros(16 * capacity, np.uint8)  # each name's bytes, then a newline
        self.state = np.zeros(2, np.int64)  # names so far, bytes of `names` used

    def __len__(self) -> int:
        return int(self.state[0])

    def reserve(self, names: int, name_bytes: int) -> None:
        """Make room for ``names`` more names of ``name_bytes`` bytes in all (separators included)."""
        count, used = int(self.state[0]), int(self.state[1])
        if count + names > len(self.offsets):
            self.offsets = np.resize(self.offsets, max(2 * len(self.offsets), count + names))
        if used + name_bytes + 8 > len(self.names):  # 8: the last name's words are read as eight bytes
            self.names = np.resize(self.names, max(2 * len(self.names), used + name_bytes + 8))
        if 2 * (count + names) > len(self.table):  # at most half full: probes stay short
            larger = _rows(4 * (count + names))
            _rehash(self.table, larger, self.offsets, self.names, np.uint64(HASH_MASK))
            self.table = larger

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.table, self.offsets, self.names, self.state

    def joined(self) -> bytes:
        """The names in id order, joined by newlines."""
        return self.names[: max(0, int(self.state[1]) - 1)].tobytes()

    def spelled(self) -> list[bytes]:
        """The names, in id order."""
        return self.joined().split(b"\n") if len(self) else []


def _rows(at_least: int) -> np.ndarray:
    """An empty table of a power of two rows of 32 bytes, each in one cache line (rows start at a multiple of 64)."""
    rows = 1 << max(4, (at_least - 1).bit_length())
    memory = np.zeros(4 * rows + 8, np.uint64)
    skip = (-memory.ctypes.data % 64) // 8
    return memory[skip : skip + 4 * rows].reshape(rows, 4)


def intern_rows(
    buf: np.ndarray, rows: np.ndarray, keep: np.ndarray, concepts: NameTable, relations: NameTable, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ids of the start concept, end concept and relation of the rows ``keep`` (indices into ``rows``, which
    :func:`scan_block` filled from the block ``buf[:size]``): (heads, tails, relations)."""
    count = len(keep)
    concepts.reserve(2 * count, size)  # two names per row, their bytes no more than the rows'
    relations.reserve(count, size)
    heads, tails, rels = np.empty(count, np.int32), np.empty(count, np.int32), np.empty(count, np.uint16)
    mask = np.uint64(HASH_MASK)
    _intern_rows(buf, rows, keep, heads, tails, rels, concepts.arrays(), relations.arrays(), mask)
    return heads, tails, rels

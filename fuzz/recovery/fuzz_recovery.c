/* Fuzz target: recovery. First byte even: the recovery data kept in the clear next to the sealed
 * state (which whoever holds the disk can change) opens a session (rec_session_new), then uploaded
 * shares and their signatures - the payload of POST /api/v2/recover after base64 - are offered
 * (rec_session_add) until the data key comes out. Layout after the first byte: [u16le
 * size][recovery data], then [u16le size][share][u16le size][signature] per upload. The seeds are
 * real sessions with valid shares. First byte odd: Shamir shares combined directly
 * (rec_shamir_combine), share size from the second byte. Nothing may crash or leak; a session never
 * needs more than it has. */
#include <stdint.h>

#include "recovery/recovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sized(struct rd *r, struct view *out)
{
    uint16_t n;
    TRY(rd_u16le(r, &n));
    return rd_bytes(r, n, out);
}

static void session(struct rd *r)
{
    struct view recovery_data, share, sig;
    struct rec_session *s = NULL;
    uint8_t dek[REC_DEK_SIZE];
    if (sized(r, &recovery_data) < 0 || rec_session_new(recovery_data, &s) < 0)
        return;
    unsigned remaining = rec_session_remaining(s);
    if (remaining == 0 || remaining > 255)
        __builtin_trap();
    for (int i = 0; i < 16 && remaining > 0 && sized(r, &share) == 0 && sized(r, &sig) == 0; i++) {
        unsigned before = remaining;
        if (rec_session_add(s, share, sig, &remaining, dek) < 0 && remaining != before)
            __builtin_trap(); /* a refused upload changes nothing */
        if (remaining > before)
            __builtin_trap();
    }
    rec_session_free(s);
}

static void combine(struct rd *r)
{
    uint8_t share_size;
    struct buf secret = BUF_INIT;
    if (rd_u8(r, &share_size) < 0 || share_size < 2)
        return;
    struct view all = rd_rest(r);
    size_t count = all.size / share_size;
    if (rec_shamir_combine(all.ptr, count, share_size, &secret) == 0 &&
        secret.size != (size_t)share_size - 1)
        __builtin_trap();
    buf_free(&secret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rd r = rd_init(view_of(data, size));
    uint8_t mode;
    if (rd_u8(&r, &mode) < 0)
        return 0;
    if (mode & 1)
        combine(&r);
    else
        session(&r);
    return 0;
}

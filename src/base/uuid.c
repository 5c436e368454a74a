#include "uuid.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "enc.h"

static void format(const uint8_t b[16], char out[UUID_TEXT_SIZE])
{
    snprintf(out, UUID_TEXT_SIZE, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int uuid_parse(const char *in, uint8_t out[16])
{
    size_t n = strlen(in);
    const char *s = in;
    if (n == 45 && strncasecmp(in, "urn:uuid:", 9) == 0)
        s += 9, n = 36;
    else if (n == 38 && in[0] == '{' && in[37] == '}')
        s += 1, n = 36;
    ENSURE(n == 36 || n == 32, ERR_SYNTAX, "invalid UUID length: %zu", strlen(in));
    char hex[32];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool dash = n == 36 && (i == 8 || i == 13 || i == 18 || i == 23);
        ENSURE(dash == (s[i] == '-') && (dash || k < sizeof(hex)), ERR_SYNTAX, "invalid UUID format");
        if (!dash)
            hex[k++] = s[i];
    }
    ENSURE(enc_hex_decode_fixed(out, 16, view_of(hex, k)) == 0, ERR_SYNTAX, "invalid UUID format");
    return 0;
}

bool uuid_is_canonical(const char *s)
{
    uint8_t b[16];
    char canonical[UUID_TEXT_SIZE];
    if (s == NULL || strlen(s) != 36 || uuid_parse(s, b) < 0)
        return false;
    format(b, canonical);
    return strcmp(canonical, s) == 0;
}

int uuid_canonical(const char *in, char out[UUID_TEXT_SIZE])
{
    uint8_t b[16];
    out[0] = '\0';
    TRY(uuid_parse(in, b));
    format(b, out);
    return 0;
}

void uuid_v4(const uint8_t random[16], char out[UUID_TEXT_SIZE])
{
    uint8_t b[16];
    memcpy(b, random, 16);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    format(b, out);
}

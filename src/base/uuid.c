#include "uuid.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void format(const uint8_t b[16], char out[UUID_TEXT_SIZE])
{
    snprintf(out, UUID_TEXT_SIZE, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int uuid_canonical(const char *in, char out[UUID_TEXT_SIZE])
{
    size_t n = strlen(in);
    const char *s = in;
    out[0] = '\0';
    if (n == 45 && strncasecmp(in, "urn:uuid:", 9) == 0)
        s += 9, n = 36;
    else if (n == 38 && in[0] == '{' && in[37] == '}')
        s += 1, n = 36;
    ENSURE(n == 36 || n == 32, ERR_SYNTAX, "invalid UUID length: %zu", strlen(in));
    uint8_t b[16];
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (n == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            ENSURE(s[i] == '-', ERR_SYNTAX, "invalid UUID format");
            i++;
            continue;
        }
        int hi = hexval(s[i]), lo = i + 1 < n ? hexval(s[i + 1]) : -1;
        ENSURE(hi >= 0 && lo >= 0 && k < 16, ERR_SYNTAX, "invalid UUID format");
        b[k++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    ENSURE(k == 16, ERR_SYNTAX, "invalid UUID format");
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

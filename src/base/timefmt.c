#include "timefmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t qtime_from_civil(int64_t year, int month, int day, int hour, int min, int sec)
{
    return days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
}

int64_t qtime_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int qtime_parse_rfc3339(const char *s, int64_t *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int Y, M, D, h, m, sec, oh = 0, om = 0;
    *out = 0;
    bool ok = digits(s, 4, &Y) && s[4] == '-' && digits(s + 5, 2, &M) && s[7] == '-' &&
              digits(s + 8, 2, &D) && s[10] == 'T' && digits(s + 11, 2, &h) && s[13] == ':' &&
              digits(s + 14, 2, &m) && s[16] == ':' && digits(s + 17, 2, &sec);
    ENSURE(ok, ERR_SYNTAX, "\"%.40s\" is not an RFC 3339 time (YYYY-MM-DDTHH:MM:SSZ)", s);
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        ENSURE(*p >= '0' && *p <= '9', ERR_SYNTAX, "RFC 3339 time has an empty fraction");
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int sign = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        ENSURE(digits(p + 1, 2, &oh) && p[3] == ':' && digits(p + 4, 2, &om), ERR_SYNTAX,
               "RFC 3339 time has a malformed offset");
        p += 6;
    } else {
        FAIL(ERR_SYNTAX, "RFC 3339 time needs a zone (Z or +hh:mm)");
    }
    ENSURE(*p == '\0', ERR_SYNTAX, "unexpected text after the RFC 3339 time");
    int dim = M >= 1 && M <= 12 ? mdays[M - 1] + (M == 2 && is_leap(Y)) : 0;
    ENSURE(Y >= 1 && M >= 1 && M <= 12 && D >= 1 && D <= dim && h < 24 && m < 60 && sec < 60 &&
               oh < 24 && om < 60,
           ERR_RANGE, "RFC 3339 time \"%.40s\" is out of range", s);
    *out = qtime_from_civil(Y, M, D, h, m, sec) - sign * (oh * 3600 + om * 60);
    return 0;
}

int qtime_format_rfc3339(int64_t t, char out[32])
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t rem = t - days * 86400;
    /* civil_from_days */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t mo = mp < 10 ? mp + 3 : mp - 9;
    y += mo <= 2;
    ENSURE(y >= 1 && y <= 9999, ERR_RANGE, "time %lld is outside years 1..9999", (long long)t);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, (int)mo, (int)d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
    return 0;
}

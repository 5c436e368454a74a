#include <criterion/criterion.h>

#include "base/base.h"

static const uint8_t data[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a};

Test(rd, little_and_big_endian)
{
    struct rd r = rd_init(view_of(data, sizeof(data)));
    uint8_t a;
    uint16_t b, c;
    uint32_t d;
    cr_assert_eq(rd_u8(&r, &a), 0);
    cr_assert_eq(a, 0x01);
    cr_assert_eq(rd_u16le(&r, &b), 0);
    cr_assert_eq(b, 0x0302);
    cr_assert_eq(rd_u16be(&r, &c), 0);
    cr_assert_eq(c, 0x0405);
    cr_assert_eq(rd_u32le(&r, &d), 0);
    cr_assert_eq(d, 0x09080706);
    cr_assert_eq(rd_remaining(&r), 1);
    cr_assert_eq(rd_end(&r), ERR_TRAILING);
    cr_assert_eq(rd_skip(&r, 1), 0);
    cr_assert_eq(rd_end(&r), 0);
}

Test(rd, reads_are_all_or_nothing)
{
    struct rd r = rd_init(view_of(data, 3));
    uint32_t x = 7;
    cr_assert_eq(rd_u32le(&r, &x), ERR_TRUNCATED);
    cr_assert_eq(x, 0);
    cr_assert_eq(rd_offset(&r), 0, "a failed read consumes nothing");
    cr_assert_str_eq(err_detail(ERR_TRUNCATED), "input truncated at offset 0: need 4 bytes, 3 left");
    uint64_t y;
    cr_assert_eq(rd_u64le(&r, &y), ERR_TRUNCATED);
    struct view v;
    cr_assert_eq(rd_bytes(&r, 4, &v), ERR_TRUNCATED);
    cr_assert_eq(rd_bytes(&r, 3, &v), 0);
    cr_assert_eq(v.size, 3);
    cr_assert_eq(rd_bytes(&r, 0, &v), 0);
    cr_assert_eq(rd_bytes(&r, SIZE_MAX, &v), ERR_TRUNCATED);
}

Test(rd, sub_readers_are_bounded_and_advance_the_parent)
{
    struct rd r = rd_init(view_of(data, sizeof(data))), sub;
    cr_assert_eq(rd_skip(&r, 2), 0);
    cr_assert_eq(rd_sub(&r, 4, &sub), 0);
    cr_assert_eq(rd_offset(&r), 6);
    uint32_t x;
    cr_assert_eq(rd_u32be(&sub, &x), 0);
    cr_assert_eq(x, 0x03040506);
    uint8_t b;
    cr_assert_eq(rd_u8(&sub, &b), ERR_TRUNCATED, "a sub-reader cannot read past its region");
    cr_assert_eq(rd_sub(&r, 5, &sub), ERR_TRUNCATED);
    struct view rest = rd_rest(&r);
    cr_assert_eq(rest.size, 4);
    cr_assert_eq(rd_end(&r), 0);
}

Test(rd, empty_input)
{
    struct rd r = rd_init(VIEW_EMPTY);
    cr_assert_eq(rd_end(&r), 0);
    struct view v = rd_rest(&r);
    cr_assert_eq(v.size, 0);
    uint8_t b;
    cr_assert_eq(rd_u8(&r, &b), ERR_TRUNCATED);
}

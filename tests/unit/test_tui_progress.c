/* test_tui_progress.c - the figures of the console's progress widget. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "job.h"
#include "tui.h"

static void test_percent(void **state)
{
    (void)state;
    struct dv_progress p;
    memset(&p, 0, sizeof p);
    assert_int_equal(tui_progress_percent(&p), -1); /* no total known */
    p.items_total = 4;
    p.items_done = 1;
    assert_int_equal(tui_progress_percent(&p), 25);
    p.bytes_total = 1000; /* bytes win over items */
    p.bytes_done = 999;
    assert_int_equal(tui_progress_percent(&p), 99);
    p.bytes_done = 5000;
    assert_int_equal(tui_progress_percent(&p), 100);
}

static void test_text(void **state)
{
    (void)state;
    struct dv_progress p;
    memset(&p, 0, sizeof p);
    char buf[200];
    p.items_done = 3;
    tui_progress_text(&p, 0, buf, sizeof buf);
    assert_string_equal(buf, "3 items");
    /* 10 s into the phase: 1 MiB of 4 MiB done -> 102.4 KiB/s, 30 s left */
    p.phase_started = 100;
    p.items_total = 12;
    p.bytes_done = 1 << 20;
    p.bytes_total = 4 << 20;
    tui_progress_text(&p, 110, buf, sizeof buf);
    assert_string_equal(buf, "3/12 items  1.0 MiB/4.0 MiB  102.4 KiB/s  ETA 0:30");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent),
        cmocka_unit_test(test_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

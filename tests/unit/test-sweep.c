/*
** tests/unit/test-sweep.c - sweep specs: the bundled default, Latin hypercube draws, references,
** 'same' padding, type filters, caps, and every error with its line number.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "profiler/sweep.h"

static prof_sweep parse_ok(const char *text, const prof_sweep_opts *o)
{
    prof_sweep s;
    char err[256];
    if (prof_sweep_parse(&s, text, o, err, sizeof err) != CLEAVE_OK)
        fail_msg("sweep did not parse: %s", err);
    return s;
}

static void expect_error(const char *text, cleave_status want, const char *msg)
{
    prof_sweep s = {NULL, 0, 0};
    prof_sweep_opts o = {.seed = 1, .name = "t.sweep"};
    char err[256];
    cleave_status rc = prof_sweep_parse(&s, text, &o, err, sizeof err);
    if (rc != want || strcmp(err, msg) != 0)
        fail_msg("'%s': got %s '%s', want '%s'", text, cleave_status_name(rc), err, msg);
    assert_null(s.entries);
}

static void test_default_sweep(void **state)
{
    (void)state;
    prof_sweep a, b, c;
    char err[256];
    prof_sweep_opts o = {.seed = 7, .max_macs = 2.5e9};
    assert_int_equal(
        prof_sweep_load(&a, CLEAVE_SRC_DIR "/data/sweeps/default.sweep", &o, err, sizeof err),
        CLEAVE_OK);
    assert_true(a.n > 800);
    int seen[CLEAVE_LAYER_COUNT] = {0};
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(cleave_layer_validate(&a.entries[i].layer, err, sizeof err), CLEAVE_OK);
        seen[a.entries[i].layer.type]++;
    }
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++)
        if (seen[t] < 5)
            fail_msg("type '%s' has only %d shapes in the default sweep",
                     cleave_layer_type_name((cleave_layer_type)t), seen[t]);
    /* Same seed, same draws; another seed, other draws; fixed lines identical either way. */
    assert_int_equal(
        prof_sweep_load(&b, CLEAVE_SRC_DIR "/data/sweeps/default.sweep", &o, err, sizeof err),
        CLEAVE_OK);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.entries, b.entries, a.n * sizeof *a.entries);
    o.seed = 8;
    assert_int_equal(
        prof_sweep_load(&c, CLEAVE_SRC_DIR "/data/sweeps/default.sweep", &o, err, sizeof err),
        CLEAVE_OK);
    size_t differ = 0;
    for (size_t i = 0; i < a.n && i < c.n; i++)
        differ += memcmp(&a.entries[i].layer, &c.entries[i].layer, sizeof(cleave_layer)) != 0;
    assert_true(differ > a.n / 2);
    assert_memory_equal(&a.entries[0].layer, &c.entries[0].layer, sizeof(cleave_layer));
    prof_sweep_release(&a);
    prof_sweep_release(&b);
    prof_sweep_release(&c);
}

/* With COUNT strata over a range of COUNT integers, Latin hypercube sampling uses each integer
** exactly once, independently per key. */
static void test_latin_hypercube(void **state)
{
    (void)state;
    prof_sweep_opts o = {.seed = 3};
    prof_sweep s = parse_ok("random 12 conv n=1 c=1..12 h=13..24 w=@h k=4 kernel=3 pad=same", &o);
    assert_int_equal(s.n, 12);
    int c_seen[13] = {0}, h_seen[25] = {0};
    for (size_t i = 0; i < s.n; i++) {
        const cleave_layer *l = &s.entries[i].layer;
        c_seen[l->c]++;
        h_seen[l->h]++;
        assert_int_equal(l->w, l->h);
        assert_int_equal(l->pt, 1);
        assert_int_equal(l->pr, 1);
        assert_true(s.entries[i].from_random);
        assert_int_equal(s.entries[i].line, 1);
    }
    for (int v = 1; v <= 12; v++)
        assert_int_equal(c_seen[v], 1);
    for (int v = 13; v <= 24; v++)
        assert_int_equal(h_seen[v], 1);
    prof_sweep_release(&s);

    /* Log ranges stay inside their bounds; choices are all used when count = choices. */
    s = parse_ok("random 50 fc n=1 c=16..8192:log k=1|2|5|10|20", &o);
    int k_seen[21] = {0}, small = 0;
    for (size_t i = 0; i < s.n; i++) {
        assert_true(s.entries[i].layer.c >= 16 && s.entries[i].layer.c <= 8192);
        small += s.entries[i].layer.c < 362; /* geometric middle of 16..8192 */
        k_seen[s.entries[i].layer.k]++;
    }
    assert_int_equal(k_seen[1], 10);
    assert_int_equal(k_seen[20], 10);
    assert_int_equal(small, 25);
    prof_sweep_release(&s);

    /* Dilated 'same' padding keeps the size. */
    s = parse_ok("random 4 conv n=1 c=4 h=16 w=16 k=4 kernel=3|5 dilation=2 pad=same", &o);
    for (size_t i = 0; i < s.n; i++) {
        cleave_shape out = cleave_layer_output_shape(&s.entries[i].layer);
        assert_int_equal(out.d[2], 16);
    }
    prof_sweep_release(&s);
}

static void test_filters_and_caps(void **state)
{
    (void)state;
    const char *text = "# comment\n"
                       "conv n=1 c=3 h=224 w=224 k=64 kernel=11 stride=4 pad=2  # alexnet\n"
                       "\n"
                       "fc n=1 c=4096 k=4096\n"
                       "random 5 relu n=1 c=1..8 h=2 w=2\n";
    prof_sweep_opts o = {.seed = 1};
    prof_sweep s = parse_ok(text, &o);
    assert_int_equal(s.n, 7);
    assert_int_equal(s.entries[0].line, 2);
    assert_int_equal(s.entries[1].line, 4);
    prof_sweep_release(&s);

    char err[128];
    assert_int_equal(prof_types_parse("fc,act", &o.types, err, sizeof err), CLEAVE_OK);
    s = parse_ok(text, &o);
    assert_int_equal(s.n, 6);
    assert_int_equal(s.entries[0].layer.type, CLEAVE_LAYER_FC);
    prof_sweep_release(&s);
    assert_int_equal(prof_types_parse("fc,cnov", &o.types, err, sizeof err), CLEAVE_EPARSE);
    assert_string_equal(err, "unknown layer type 'cnov'");

    /* The 64 MiB fc is over a 32 MiB cap: skipped and counted, not an error. */
    prof_sweep_opts capped = {.seed = 1, .max_bytes = 32u << 20};
    s = parse_ok(text, &capped);
    assert_int_equal(s.n, 6);
    assert_int_equal(s.rejected, 1);
    prof_sweep_release(&s);
    /* A random line that can never fit its caps gives up after its redraws. */
    prof_sweep_opts tiny = {.seed = 1, .max_macs = 10};
    s = parse_ok("random 3 conv n=1 c=8 h=32 w=32 k=8..16 kernel=3", &tiny);
    assert_int_equal(s.n, 0);
    assert_int_equal(s.rejected, 3);
    prof_sweep_release(&s);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("conv n=1\nconv n=1 strde=2\n", CLEAVE_EPARSE,
                 "'t.sweep' line 2: unknown key 'strde' for layer type 'conv'");
    expect_error("\n\nconv n=0", CLEAVE_EINVAL, "'t.sweep' line 3: 'n' must be positive, got 0");
    expect_error("random 0 conv", CLEAVE_EPARSE,
                 "'t.sweep' line 1: 'random' needs a count in 1..100000, got '0'");
    expect_error("random 5", CLEAVE_EPARSE, "'t.sweep' line 1: 'random 5' needs a layer type");
    expect_error("random 5 cnov c=1..4", CLEAVE_EPARSE,
                 "'t.sweep' line 1: unknown layer type 'cnov'");
    expect_error("random 5 conv c=9..4", CLEAVE_EPARSE,
                 "'t.sweep' line 1: bad range '9..4' for 'c' (want a..b or a..b:log)");
    expect_error("random 5 conv c=0..4:log", CLEAVE_EPARSE,
                 "'t.sweep' line 1: log range of 'c' must start at 1 or more, got '0..4:log'");
    expect_error("random 5 conv c=1..4 w=@x", CLEAVE_EPARSE,
                 "'t.sweep' line 1: 'w=@x' refers to a key not on the line");
    expect_error("random 5 conv h=same", CLEAVE_EPARSE,
                 "'t.sweep' line 1: 'same' is only a value of 'pad', not of 'h'");
    expect_error("random 5 conv c=1..4 strde=1|2", CLEAVE_EPARSE,
                 "'t.sweep' line 1: unknown key 'strde' for layer type 'conv'");
    prof_sweep s;
    char err[256];
    prof_sweep_opts o = {.seed = 1};
    assert_int_equal(prof_sweep_load(&s, "/nonexistent/x.sweep", &o, err, sizeof err), CLEAVE_EIO);
    assert_string_equal(err, "cannot open sweep '/nonexistent/x.sweep': No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_sweep),
        cmocka_unit_test(test_latin_hypercube),
        cmocka_unit_test(test_filters_and_caps),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

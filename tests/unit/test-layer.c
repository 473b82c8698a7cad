/*
** tests/unit/test-layer.c - the layer catalogue: text syntax, validation messages, output
** shapes and static features against hand-computed values of real networks' layers.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <cleave/cleave.h>

static cleave_layer parse_ok(const char *spec)
{
    cleave_layer l;
    char err[256];
    cleave_status rc = cleave_layer_parse(&l, spec, err, sizeof err);
    if (rc != CLEAVE_OK)
        fail_msg("'%s' did not parse: %s", spec, err);
    return l;
}

static void expect_error(const char *spec, cleave_status want, const char *msg)
{
    cleave_layer l;
    char err[256];
    memset(&l, 0x5a, sizeof l);
    cleave_status rc = cleave_layer_parse(&l, spec, err, sizeof err);
    if (rc != want || strcmp(err, msg) != 0)
        fail_msg("'%s': got %s '%s', want %s '%s'", spec, cleave_status_name(rc), err,
                 cleave_status_name(want), msg);
}

/* torchvision AlexNet conv1 (the example). */
static void test_alexnet_conv1(void **state)
{
    (void)state;
    cleave_layer l = parse_ok("conv n=1 c=3 h=224 w=224 k=64 kh=11 kw=11 stride=4 pad=2");
    cleave_shape o = cleave_layer_output_shape(&l);
    assert_int_equal(o.d[0], 1);
    assert_int_equal(o.d[1], 64);
    assert_int_equal(o.d[2], 55);
    assert_int_equal(o.d[3], 55);
    double f[CLEAVE_FEAT_COUNT];
    cleave_layer_features(&l, f);
    assert_true(f[CLEAVE_FEAT_MACS] == 70276800.0);
    assert_true(f[CLEAVE_FEAT_IN_BYTES] == 4.0 * 3 * 224 * 224);
    assert_true(f[CLEAVE_FEAT_OUT_BYTES] == 4.0 * 64 * 55 * 55);
    assert_true(f[CLEAVE_FEAT_W_BYTES] == 4.0 * (64 * 3 * 11 * 11 + 64));
    /* Edgent: x1 = input feature-map size, x2 = (filter/stride)^2 * filters = (11/4)^2 * 64. */
    assert_true(f[CLEAVE_FEAT_X1] == 3.0 * 224 * 224);
    assert_true(f[CLEAVE_FEAT_X2] == 121.0 / 16.0 * 64.0);
    assert_true(f[CLEAVE_FEAT_OH] == 55.0 && f[CLEAVE_FEAT_OW] == 55.0);
    assert_true(f[CLEAVE_FEAT_PAD] == 8.0 && f[CLEAVE_FEAT_STRIDE] == 16.0);
}

/* More known layers: ResNet-50 stem, MobileNetV2 depthwise, AlexNet fc6 and pool, a DCGAN-style
** transposed conv, an LSTM. */
static void test_known_layers(void **state)
{
    (void)state;
    double f[CLEAVE_FEAT_COUNT];
    cleave_layer l = parse_ok("conv n=1 c=3 h=224 w=224 k=64 kernel=7 stride=2 pad=3 bias=0");
    cleave_layer_features(&l, f);
    assert_true(f[CLEAVE_FEAT_MACS] == 118013952.0);
    assert_true(f[CLEAVE_FEAT_W_BYTES] == 4.0 * 64 * 3 * 49);

    l = parse_ok("conv n=1 c=32 h=112 w=112 k=32 kh=3 kw=3 pad=1 groups=32 act=relu6");
    cleave_layer_features(&l, f);
    assert_true(f[CLEAVE_FEAT_MACS] == 112.0 * 112 * 32 * 9);
    assert_int_equal(l.act, CLEAVE_ACT_RELU6);

    l = parse_ok("fc n=1 c=256 h=6 w=6 k=4096");
    cleave_layer_features(&l, f);
    assert_true(f[CLEAVE_FEAT_MACS] == 9216.0 * 4096);
    assert_true(f[CLEAVE_FEAT_W_BYTES] == 4.0 * (9216.0 * 4096 + 4096));
    assert_true(f[CLEAVE_FEAT_X2] == 4096.0);

    l = parse_ok("maxpool n=1 c=64 h=55 w=55 kernel=3 stride=2");
    cleave_shape o = cleave_layer_output_shape(&l);
    assert_int_equal(o.d[2], 27);
    assert_int_equal(o.d[3], 27);

    l = parse_ok("gpool n=1 c=2048 h=7 w=7");
    o = cleave_layer_output_shape(&l);
    assert_int_equal(o.d[1], 2048);
    assert_int_equal(o.d[2], 1);
    cleave_layer_features(&l, f);
    assert_true(f[CLEAVE_FEAT_MACS] == 2048.0 * 49);

    l = parse_ok("deconv n=1 c=64 h=28 w=28 k=32 kernel=4 stride=2 pad=1");
    o = cleave_layer_output_shape(&l);
    assert_int_equal(o.d[1], 32);
    assert_int_equal(o.d[2], 56);
    assert_int_equal(o.d[3], 56);
    cleave_layer_features(&l, f);
    assert_true(f[CLEAVE_FEAT_MACS] == 64.0 * 28 * 28 * 32 * 16);

    l = parse_ok("conv n=1 c=8 h=16 w=16 k=8 kernel=3 dilation=2 pad=2");
    o = cleave_layer_output_shape(&l);
    assert_int_equal(o.d[2], 16);

    l = parse_ok("lstm t=20 n=1 c=256 hidden=256");
    o = cleave_layer_output_shape(&l);
    assert_int_equal(o.d[0], 20);
    assert_int_equal(o.d[2], 256);
    cleave_layer_features(&l, f);
    assert_true(f[CLEAVE_FEAT_MACS] == 4.0 * 256 * 512 * 20);
    assert_true(f[CLEAVE_FEAT_W_BYTES] == 4.0 * 4 * 256 * (256 + 256 + 1));

    l = parse_ok("gru t=5 n=2 c=10 k=7 dirs=2");
    o = cleave_layer_output_shape(&l);
    assert_int_equal(o.d[2], 14);
    cleave_layer_features(&l, f);
    assert_true(f[CLEAVE_FEAT_MACS] == 3.0 * 7 * 17 * 5 * 2 * 2);

    l = parse_ok("concat n=1 c=64,128,32,32 h=28 w=28");
    assert_int_equal(l.c, 256);
    assert_int_equal(l.ninputs, 4);
    l = parse_ok("concat n=1 c=16 ninputs=3 h=2 w=2");
    assert_int_equal(l.c, 48);
    assert_int_equal(l.cin[2], 16);

    l = parse_ok("transpose n=2 c=3 h=4 w=5 perm=0,2,3,1");
    o = cleave_layer_output_shape(&l);
    assert_int_equal(o.d[1], 4);
    assert_int_equal(o.d[3], 3);

    l = parse_ok("slice n=1 c=10 h=4 w=4 axis=1 start=2 end=7");
    o = cleave_layer_output_shape(&l);
    assert_int_equal(o.d[1], 5);

    l = parse_ok("argmax n=1 c=1000 h=1 w=1 axis=1");
    o = cleave_layer_output_shape(&l);
    assert_int_equal(o.d[1], 1);

    l = parse_ok("reshape n=1 c=512 h=7 w=7");
    cleave_layer_features(&l, f);
    assert_true(f[CLEAVE_FEAT_MACS] == 0.0 && f[CLEAVE_FEAT_OUT_BYTES] == 0.0);

    l = parse_ok("hardsigmoid n=1 c=4 h=2 w=2");
    assert_int_equal(l.type, CLEAVE_LAYER_ACT);
    assert_int_equal(l.kind, CLEAVE_ACT_HARDSIGMOID);
    assert_true(l.alpha == 0.2 && l.beta == 0.5);
    l = parse_ok("act n=1 c=4 h=2 w=2 kind=clip alpha=-1 beta=1");
    assert_true(l.alpha == -1.0 && l.beta == 1.0);
}

/* Every type's default layer formats to text that parses back to the same text, and a set of
** non-default layers round-trips too. */
static void test_round_trip(void **state)
{
    (void)state;
    char a[512], b[512], err[256];
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++) {
        cleave_layer l, m;
        cleave_layer_init(&l, (cleave_layer_type)t);
        if (t == CLEAVE_LAYER_CONCAT) {
            l.ninputs = 2;
            l.cin[0] = 1;
            l.cin[1] = 2;
            l.c = 3;
        }
        assert_int_equal(cleave_layer_validate(&l, err, sizeof err), CLEAVE_OK);
        assert_true(cleave_layer_format(&l, a, sizeof a) > 0);
        if (cleave_layer_parse(&m, a, err, sizeof err) != CLEAVE_OK)
            fail_msg("'%s': %s", a, err);
        cleave_layer_format(&m, b, sizeof b);
        assert_string_equal(a, b);
        assert_string_equal(cleave_layer_type_name((cleave_layer_type)t),
                            strtok(strcpy(b, a), " "));
    }
    static const char *const specs[] = {
        "conv n=2 c=8 h=9 w=11 k=12 kh=3 kw=5 sh=2 sw=1 pt=1 pl=2 pb=0 pr=1 dh=2 dw=1 groups=4 "
        "bias=0 act=leaky alpha=0.2",
        "pool n=1 c=3 h=9 w=9 kind=avgpad kernel=3 stride=2 pad=1",
        "lrn n=1 c=96 h=55 w=55 size=5 alpha=0.0001 beta=0.75 lrn_k=2",
        "lstm t=3 n=2 c=4 k=4 layers=2 dirs=1 bias=0",
        "fc n=4 c=7 h=1 w=1 k=3 bias=1 act=hardsigmoid alpha=0.2 beta=0.5",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        cleave_layer l = parse_ok(specs[i]), m;
        int n = cleave_layer_format(&l, a, sizeof a);
        assert_int_equal(n, (int)strlen(a));
        assert_int_equal(cleave_layer_parse(&m, a, err, sizeof err), CLEAVE_OK);
        cleave_layer_format(&m, b, sizeof b);
        assert_string_equal(a, b);
    }
    /* Truncation reports the length needed, like snprintf. */
    cleave_layer l = parse_ok(specs[0]);
    int need = cleave_layer_format(&l, a, 8);
    assert_true(need > 8);
    assert_int_equal(strlen(a), 7);
}

static void test_bad_input(void **state)
{
    (void)state;
    expect_error("", CLEAVE_EPARSE, "empty layer spec");
    expect_error("convolution n=1", CLEAVE_EPARSE, "unknown layer type 'convolution'");
    expect_error("conv n=1 strde=2", CLEAVE_EPARSE, "unknown key 'strde' for layer type 'conv'");
    expect_error("fc n=1 kh=3", CLEAVE_EPARSE, "unknown key 'kh' for layer type 'fc'");
    expect_error("conv h", CLEAVE_EPARSE, "expected key=value, got 'h'");
    expect_error("conv h=", CLEAVE_EPARSE, "key 'h' has no value");
    expect_error("conv h=3 h=4", CLEAVE_EPARSE, "key 'h' given twice");
    expect_error("conv h=3x", CLEAVE_EPARSE, "value of 'h' is not an integer: '3x'");
    expect_error("conv h=99999999999999999999", CLEAVE_EINVAL,
                 "value of 'h' is out of range: '99999999999999999999'");
    expect_error("conv n=0 c=3 h=8 w=8", CLEAVE_EINVAL, "'n' must be positive, got 0");
    expect_error("conv n=1 c=3 h=-8 w=8", CLEAVE_EINVAL, "'h' must be positive, got -8");
    expect_error("conv n=1 c=3 h=8 w=8 pad=-1", CLEAVE_EINVAL, "'pt' must be at least 0, got -1");
    expect_error("conv n=1 c=3 h=8 w=8 stride=0", CLEAVE_EINVAL, "'sh' must be positive, got 0");
    expect_error("conv n=1 c=3 h=8 w=8 k=4 kernel=11", CLEAVE_EINVAL,
                 "kernel 11x11 is larger than the padded input 8x8");
    expect_error("conv n=1 c=3 h=8 w=8 k=4 kernel=5 dilation=3", CLEAVE_EINVAL,
                 "kernel 13x13 is larger than the padded input 8x8");
    expect_error("conv n=1 c=6 h=4 w=4 k=4 groups=4", CLEAVE_EINVAL,
                 "groups=4 must divide c=6 and k=4");
    expect_error("conv n=1000000 c=1000000 h=1000000 w=1000000", CLEAVE_EINVAL,
                 "layer is too large: element counts overflow");
    expect_error("conv n=1 c=3 h=2000000000000 w=8", CLEAVE_EINVAL,
                 "'h' is too large: 2000000000000");
    expect_error("fc n=1 c=1000000 h=1000 w=1000 k=1000000", CLEAVE_EINVAL,
                 "layer is too large: element counts overflow");
    expect_error("pool n=1 c=3 h=8 w=8 kernel=2 pad=2", CLEAVE_EINVAL,
                 "padding must be smaller than the pooling window 2x2");
    expect_error("pool n=1 c=3 h=8 w=8 kind=median", CLEAVE_EPARSE,
                 "unknown pooling kind 'median' (max, avg, avgpad)");
    expect_error("act n=1 kind=swish", CLEAVE_EPARSE, "unknown activation 'swish'");
    expect_error("act n=1 kind=clip alpha=2 beta=1", CLEAVE_EINVAL,
                 "clip bounds must satisfy alpha <= beta, got 2 > 1");
    expect_error("act n=1 alpha=nan", CLEAVE_EPARSE,
                 "value of 'alpha' is not a finite number: 'nan'");
    expect_error("transpose n=1 perm=0,1,1,2", CLEAVE_EINVAL,
                 "'perm' must be a permutation of 0,1,2,3");
    expect_error("transpose n=1 perm=0,1,2", CLEAVE_EPARSE,
                 "value of 'perm' must be four axes like 0,2,3,1, got '0,1,2'");
    expect_error("slice n=1 c=4 axis=1 start=2 end=9", CLEAVE_EINVAL,
                 "slice [2, 9) is not inside axis 1 of size 4");
    expect_error("softmax n=1 axis=4", CLEAVE_EINVAL, "'axis' must be 0..3, got 4");
    expect_error("add n=1 ninputs=3", CLEAVE_EINVAL, "'add' takes 2 inputs, got 3");
    expect_error("concat n=1 c=4,0 h=2 w=2", CLEAVE_EINVAL,
                 "concat input 1 must have a positive channel count, got 0");
    expect_error("conv c=4,4", CLEAVE_EPARSE, "key 'c' takes a list only for concat");
    expect_error("lstm t=2 c=4 k=8 layers=2", CLEAVE_EINVAL,
                 "stacked recurrent layers need c == k and dirs=1 (got c=4 k=8 dirs=1)");
    expect_error("lstm t=2 c=4 k=8 dirs=3", CLEAVE_EINVAL, "'dirs' must be 1 or 2, got 3");
    expect_error("lstm h=3", CLEAVE_EPARSE, "unknown key 'h' for layer type 'lstm'");
    expect_error("deconv n=1 c=1 h=1 w=1 k=1 kernel=1 pad=1", CLEAVE_EINVAL,
                 "padding 1+1 x 1+1 leaves no output of the transposed convolution");
    expect_error("conv bias=2", CLEAVE_EINVAL, "value of 'bias' must be 0 or 1, got '2'");
    /* Huge strides and kernels do not overflow the features (UBSan checks this build). */
    cleave_layer big = parse_ok("pool kind=max n=1 c=8 h=16 w=16 kernel=3 stride=11111111111");
    double f[CLEAVE_FEAT_COUNT];
    cleave_layer_features(&big, f);
    assert_true(f[CLEAVE_FEAT_STRIDE] == 11111111111.0 * 11111111111.0);
    /* NULL arguments are statuses, not crashes. */
    char err[64];
    assert_int_equal(cleave_layer_parse(NULL, "conv", err, sizeof err), CLEAVE_EINVAL);
    assert_int_equal(cleave_layer_validate(NULL, err, sizeof err), CLEAVE_EINVAL);
    assert_int_equal(cleave_layer_format(NULL, err, sizeof err), -1);
}

/* The per-type feature lists name valid features, and every type has MACs and bytes. */
static void test_type_features(void **state)
{
    (void)state;
    cleave_feature ids[CLEAVE_FEAT_COUNT];
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++) {
        int n = cleave_layer_type_features((cleave_layer_type)t, ids, CLEAVE_FEAT_COUNT);
        assert_true(n >= 3 && n <= CLEAVE_FEAT_COUNT);
        assert_int_equal(ids[0], CLEAVE_FEAT_MACS);
        for (int i = 0; i < n; i++)
            assert_non_null(cleave_feature_name(ids[i]));
    }
    assert_int_equal(cleave_layer_type_features(CLEAVE_LAYER_COUNT, ids, 4), 0);
    assert_int_equal(cleave_layer_type_from_name("lrn"), CLEAVE_LAYER_LRN);
    assert_int_equal(cleave_layer_type_from_name("nope"), -1);
    assert_null(cleave_layer_type_name(CLEAVE_LAYER_COUNT));
}

static void test_status_strings(void **state)
{
    (void)state;
    assert_string_equal(cleave_strerror(CLEAVE_OK), "not an error");
    assert_string_equal(cleave_strerror(CLEAVE_ENOMEM), "out of memory");
    assert_string_equal(cleave_strerror((cleave_status)-999), "unknown status");
    assert_string_equal(cleave_status_name(CLEAVE_EUNSUPPORTED), "EUNSUPPORTED");
    assert_int_equal(cleave_version_number(), CLEAVE_VERSION_NUMBER);
    assert_string_equal(cleave_version(), CLEAVE_VERSION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alexnet_conv1), cmocka_unit_test(test_known_layers),
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_type_features), cmocka_unit_test(test_status_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

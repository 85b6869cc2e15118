/* Native tests of cpu-peak-c (tools/c/test.sh): the cases of
 * plugins/cpu-peak's Rust unit tests, on the same inputs. */
#include "rill_testing.h"

static void metric(char *out, size_t size, const char *host, const char *pct) {
    snprintf(out, size, "{\"host\":{\"name\":\"%s\"},\"system\":{\"cpu\":{\"total\":{\"norm\":{\"pct\":%s}}}}}", host,
             pct);
}

/** Processes a metric at `time`; returns how many outputs it gave. */
static size_t at(rill_driver *d, const char *host, const char *pct, int64_t time, rill_result *r) {
    char value[256];
    metric(value, sizeof value, host, pct);
    *r = rill_driver_process_at(d, "k", value, time);
    RILL_CHECK(r->ok);
    return r->len;
}

RILL_TEST(a_stream_time_timer_emits_each_hosts_peak_since_the_last_firing) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{}");
    rill_driver_with_timer(d, "flush", RILL_STREAM_TIME, 60000, true);
    rill_result r;
    RILL_CHECK(at(d, "a", "0.2", 1000, &r) == 0);
    rill_result_free(&r);
    RILL_CHECK(at(d, "a", "0.7", 20000, &r) == 0);
    rill_result_free(&r);
    RILL_CHECK(at(d, "b", "0.1", 30000, &r) == 0);
    rill_result_free(&r);
    RILL_CHECK(at(d, "a", "0.9", 60000, &r) == 2);
    if (r.len == 2) {
        RILL_CHECK_TEXT(r.outputs[0].value, "{\"host\":\"a\",\"peak\":0.9,\"until\":60000}");
        RILL_CHECK_TEXT(r.outputs[0].key, "a");
        RILL_CHECK(r.outputs[0].timestamp == 60000);
        RILL_CHECK_TEXT(r.outputs[1].value, "{\"host\":\"b\",\"peak\":0.1,\"until\":60000}");
    }
    rill_result_free(&r);
    RILL_CHECK(at(d, "a", "0.3", 61000, &r) == 0);
    rill_result_free(&r);
    r = rill_driver_advance_stream_time(d, 120000);
    RILL_CHECK(r.ok && r.len == 1);
    if (r.len == 1) RILL_CHECK_TEXT(r.outputs[0].value, "{\"host\":\"a\",\"peak\":0.3,\"until\":120000}");
    rill_result_free(&r);
    RILL_CHECK(rill_driver_store_len(d, "peaks") == 0);
    rill_driver_free(d);
}

RILL_TEST(a_wall_clock_timer_fires_without_records) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{}");
    rill_driver_with_timer(d, "flush", RILL_WALL_CLOCK, 60000, true);
    rill_result r;
    at(d, "a", "0.5", 5, &r);
    rill_result_free(&r);
    r = rill_driver_advance_wall_clock(d, 59999);
    RILL_CHECK(r.ok && r.len == 0);
    rill_result_free(&r);
    r = rill_driver_advance_wall_clock(d, 60000);
    RILL_CHECK(r.ok && r.len == 1);
    if (r.len == 1) RILL_CHECK_TEXT(r.outputs[0].value, "{\"host\":\"a\",\"peak\":0.5,\"until\":60000}");
    rill_result_free(&r);
    rill_driver_free(d);
}

RILL_TEST(peaks_are_float_stores_as_the_rust_port_writes_them) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{}");
    rill_result r;
    at(d, "h", "1e-7", 1, &r);
    rill_result_free(&r);
    rill_buf value = {0};
    RILL_CHECK(rill_driver_store_get(d, "peaks", rill_str("h"), &value));
    /* 1e-7 as an IEEE 754 double, big-endian: 3E7AD7F29ABCAF48. */
    static const uint8_t expected[8] = {0x3E, 0x7A, 0xD7, 0xF2, 0x9A, 0xBC, 0xAF, 0x48};
    RILL_CHECK(value.len == 8 && memcmp(value.data, expected, 8) == 0);
    rill_buf_free(&value);
    rill_driver_with_timer(d, "flush", RILL_STREAM_TIME, 10, true);
    r = rill_driver_advance_stream_time(d, 10);
    RILL_CHECK(r.len == 1);
    if (r.len == 1) RILL_CHECK_TEXT(r.outputs[0].value, "{\"host\":\"h\",\"peak\":1e-7,\"until\":10}");
    rill_result_free(&r);
    rill_driver_free(d);
}

RILL_TEST(a_record_that_is_not_a_metric_is_an_error) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{}");
    rill_result r = rill_driver_process_value(d, "{\"host\":{}}");
    RILL_CHECK(!r.ok && strstr(r.error, "not a metricbeat CPU record"));
    rill_result_free(&r);
    r = rill_driver_process_value(d, "nope");
    RILL_CHECK(!r.ok && strstr(r.error, "not a metricbeat CPU record: expected value"));
    rill_result_free(&r);
    rill_driver_free(d);
}

RILL_TEST_MAIN()

/* Native tests of cpu-alert-c (tools/c/test.sh): the cases of
 * plugins/cpu-alert's Rust unit tests, on the same inputs, with the driver
 * reading plugin.toml's [fields] as the host does. */
#include "rill_testing.h"

#include <stdlib.h>

/** The seed notes' real metricbeat cpu record. */
static const char SEED_CPU[] =
    "{\"@timestamp\":\"2025-01-31T07:55:26.555Z\",\"@metadata\":{\"beat\":\"metricbeat\",\"type\":\"_doc\","
    "\"version\":\"8.17.1\"},\"service\":{\"type\":\"system\"},\"system\":{\"cpu\":{\"idle\":{\"pct\":8.1113,"
    "\"norm\":{\"pct\":0.8111}},\"nice\":{\"pct\":0,\"norm\":{\"pct\":0}},\"cores\":10,\"total\":{\"pct\":1.8887,"
    "\"norm\":{\"pct\":0.1889}},\"user\":{\"norm\":{\"pct\":0.1148},\"pct\":1.1476},\"system\":{\"pct\":0.7411,"
    "\"norm\":{\"pct\":0.0741}}}},\"host\":{\"cpu\":{\"usage\":0.1889},\"name\":\"Aaronui-MacBookPro.local\"},"
    "\"event\":{\"dataset\":\"system.cpu\",\"module\":\"system\",\"duration\":2847417},\"ecs\":{\"version\":"
    "\"8.0.0\"},\"agent\":{\"name\":\"Aaronui-MacBookPro.local\",\"type\":\"metricbeat\",\"version\":\"8.17.1\","
    "\"ephemeral_id\":\"abcd-efgh-1234-5678\",\"id\":\"abcdefghijk-1234567-ababna\"},\"metricset\":{\"period\":"
    "10000,\"name\":\"cpu\"}}";

/** A driver with plugin.toml's [fields] and `threshold`. */
static rill_driver *driver(const char *threshold) {
    char config[64];
    snprintf(config, sizeof config, "{\"threshold\":%s}", threshold);
    rill_driver *d = rill_driver_new(&rill_processor_def, config);
    RILL_CHECK(rill_driver_error(d) == NULL);
    rill_driver_with_field(d, "pct", "system.cpu.total.norm.pct", RILL_FIELD_AS_VALUE);
    rill_driver_with_field(d, "host", "host", RILL_FIELD_AS_RAW);
    rill_driver_with_field(d, "timestamp", "@timestamp", RILL_FIELD_AS_RAW);
    return d;
}

/** `text` with the first `from` replaced by `to` (malloc'd). */
static char *replace(const char *text, const char *from, const char *to) {
    const char *at = strstr(text, from);
    if (!at) at = text + strlen(text), from = "", to = "";
    size_t head = (size_t)(at - text), n = strlen(text) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    memcpy(out, text, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    return out;
}

/** How many alerts `value` gives (-1: an error). */
static int alerts(rill_driver *d, const char *value) {
    rill_result r = rill_driver_process_value(d, value);
    int n = r.ok ? (int)r.len : -1;
    rill_result_free(&r);
    return n;
}

RILL_TEST(the_seed_record_is_below_half) {
    rill_driver *d = driver("0.5");
    RILL_CHECK(alerts(d, SEED_CPU) == 0);
    rill_driver_free(d);
}

RILL_TEST(the_seed_alert_is_reproduced_byte_for_byte) {
    char *a = replace(SEED_CPU, "\"total\":{\"pct\":1.8887,\"norm\":{\"pct\":0.1889}}",
                      "\"total\":{\"pct\":8.586,\"norm\":{\"pct\":0.8586}}");
    char *b = replace(a, "\"usage\":0.1889", "\"usage\":0.8586");
    char *busy = replace(b, "2025-01-31T07:55:26.555Z", "2025-01-31T08:00:26.557Z");
    rill_driver *d = driver("0.5");
    rill_result r = rill_driver_process_keyed(d, "k", busy);
    RILL_CHECK(r.ok && r.len == 1);
    if (r.len == 1) {
        RILL_CHECK(strcmp(r.outputs[0].output, "alert") == 0);
        RILL_CHECK_TEXT(r.outputs[0].key, "k");
        RILL_CHECK_TEXT(r.outputs[0].value,
                        "{\"cpu\":{\"usage\":0.8586},\"name\":\"Aaronui-MacBookPro.local\",\"timestamp\":"
                        "\"2025-01-31T08:00:26.557Z\"}");
    }
    rill_result_free(&r);
    rill_driver_free(d);
    free(a), free(b), free(busy);
}

RILL_TEST(threshold_is_strict_and_configurable) {
    static const char *format =
        "{\"@timestamp\":\"t\",\"host\":{\"name\":\"h\"},\"system\":{\"cpu\":{\"total\":{\"norm\":{\"pct\":%s}}}}}";
    char v[256];
    rill_driver *half = driver("0.5"), *more = driver("0.7");
    snprintf(v, sizeof v, format, "0.5");
    RILL_CHECK(alerts(half, v) == 0);
    snprintf(v, sizeof v, format, "0.5001");
    RILL_CHECK(alerts(half, v) == 1);
    snprintf(v, sizeof v, format, "0.6");
    RILL_CHECK(alerts(more, v) == 0);
    rill_driver_free(half);
    rill_driver_free(more);
}

RILL_TEST(host_key_order_number_text_and_gson_escapes_are_kept) {
    rill_driver *d = driver("0.5");
    rill_result r = rill_driver_process_value(
        d, "{\"host\":{\"z\":1.50,\"a\":{\"n\":1e-07,\"m\":1e+21},\"timestamp\":\"old\",\"s\":\"\\u2028\\/\\u0001\"},"
           "\"@timestamp\":\"new\",\"system\":{\"cpu\":{\"total\":{\"norm\":{\"pct\":1}}}}}");
    RILL_CHECK(r.ok && r.len == 1);
    if (r.len == 1)
        RILL_CHECK_TEXT(r.outputs[0].value,
                        "{\"z\":1.50,\"a\":{\"n\":1e-07,\"m\":1e+21},\"timestamp\":\"new\",\"s\":\"\\u2028/\\u0001\"}");
    rill_result_free(&r);
    rill_driver_free(d);
}

RILL_TEST(malformed_records_are_errors_naming_the_field) {
    rill_driver *d = driver("0.5");
    rill_result r = rill_driver_process_value(d, "{");
    RILL_CHECK(!r.ok);
    rill_result_free(&r);
    r = rill_driver_process_value(d, "{\"@timestamp\":\"t\",\"system\":{\"cpu\":{\"total\":{\"norm\":{\"pct\":0.9}}}}}");
    RILL_CHECK(!r.ok && strstr(r.error, "host"));
    rill_result_free(&r);
    r = rill_driver_process_value(d, "{\"@timestamp\":\"t\",\"host\":{},\"system\":{\"cpu\":{}}}");
    RILL_CHECK(!r.ok && strstr(r.error, "pct"));
    rill_result_free(&r);
    r = rill_driver_process_value(d, "{\"host\":{},\"system\":{\"cpu\":{\"total\":{\"norm\":{\"pct\":0.9}}}}}");
    RILL_CHECK(!r.ok && strstr(r.error, "timestamp"));
    rill_result_free(&r);
    /* host there but not an object; and a record below the threshold is
     * checked as fully as one above it. */
    RILL_CHECK(alerts(d, "{\"system\":{\"cpu\":{\"total\":{\"norm\":{\"pct\":0.9}}}},\"host\":[],\"@timestamp\":\"t\"}") == -1);
    RILL_CHECK(alerts(d, "{\"system\":{\"cpu\":{\"total\":{\"norm\":{\"pct\":0.1}}}},\"host\":\"h\",\"@timestamp\":\"t\"}") == -1);
    RILL_CHECK(alerts(d, "{\"system\":{\"cpu\":{\"total\":{\"norm\":{\"pct\":0.1}}}},\"host\":{}}") == -1);
    RILL_CHECK(alerts(d, "{\"system\":{\"cpu\":{\"total\":{\"norm\":{\"pct\":\"0.9\"}}}},\"host\":{},\"@timestamp\":\"t\"}") == -1);
    RILL_CHECK(alerts(d, "[1,2,3]") == -1);
    rill_driver_free(d);
}

/** The alert `value` gives, or "error". */
static void check_alert(rill_driver *d, const char *value, const char *expected) {
    rill_result r = rill_driver_process_value(d, value);
    RILL_CHECK(r.ok && r.len == 1);
    if (r.ok && r.len == 1) RILL_CHECK_TEXT(r.outputs[0].value, expected);
    rill_result_free(&r);
}

/* Spliced (canonical texts, no "timestamp" in host) or parsed and written
 * (anything else): the same bytes as Gson's writer either way. */
RILL_TEST(spliced_and_written_alerts_are_the_same_bytes) {
    rill_driver *d = driver("0.5");
    static const char *format = "{\"host\":%s,\"@timestamp\":%s,\"system\":{\"cpu\":{\"total\":{\"norm\":{\"pct\":0.9}}}}}";
    static const struct {
        const char *host, *timestamp, *alert;
    } cases[] = {
        /* spliced */
        {"{\"name\":\"h\"}", "\"t\"", "{\"name\":\"h\",\"timestamp\":\"t\"}"},
        {"{}", "\"t\"", "{\"timestamp\":\"t\"}"},
        {"{\"a\":[1,{\"b\":null}],\"s\":\"\\u2028\"}", "12.50", "{\"a\":[1,{\"b\":null}],\"s\":\"\\u2028\",\"timestamp\":12.50}"},
        /* written: whitespace, an exponent, an escape Gson spells otherwise, a timestamp already there */
        {"{ \"name\" : \"h\" }", "\"t\"", "{\"name\":\"h\",\"timestamp\":\"t\"}"},
        {"{\"name\":\"h\"}", "1e-07", "{\"name\":\"h\",\"timestamp\":1e-07}"},
        {"{\"n\":\"\\/\\u00e9\"}", "\"t\"", "{\"n\":\"/\u00e9\",\"timestamp\":\"t\"}"},
        {"{\"timestamp\":1,\"name\":\"h\"}", "\"t\"", "{\"timestamp\":\"t\",\"name\":\"h\"}"},
        {"{\"a\":1,\"a\":2}", "{\"x\": 1}", "{\"a\":2,\"timestamp\":{\"x\":1}}"},
    };
    char value[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(value, sizeof value, format, cases[i].host, cases[i].timestamp);
        check_alert(d, value, cases[i].alert);
    }
    rill_driver_free(d);
}

RILL_TEST(config_is_checked) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{}");
    RILL_CHECK(rill_driver_error(d) && strstr(rill_driver_error(d), "threshold"));
    rill_result r = rill_driver_process_value(d, SEED_CPU);
    RILL_CHECK(!r.ok);
    rill_result_free(&r);
    rill_driver_free(d);
    d = rill_driver_new(&rill_processor_def, "{\"threshold\":0.5,\"extra\":1}");
    RILL_CHECK(rill_driver_error(d) && strstr(rill_driver_error(d), "extra"));
    rill_driver_free(d);
}

RILL_TEST_MAIN()

/* Native tests of the C SDK itself (tools/c/test.sh): JSON, number
 * formatting, codecs, stores, tables, timers, windows and the messages of
 * callbacks a processor leaves out. */
#include "rill_testing.h"

#include <math.h>
#include <stdlib.h>

/* ---- JSON ------------------------------------------------------------- */

/** `text` parsed and written again (NULL when it does not parse). */
static char *roundtrip(const char *text, unsigned flags) {
    rill_json *v = rill_json_parse(NULL, rill_str(text));
    if (!v) return NULL;
    rill_buf out = {0};
    rill_json_write(&out, v, flags);
    rill_json_free(v);
    rill_buf_cstr(&out);
    return (char *)out.data; /* the buffer's memory, NUL-terminated */
}

static void check_roundtrip(const char *text, const char *expected) {
    char *got = roundtrip(text, 0);
    RILL_CHECK(got != NULL);
    if (got && strcmp(got, expected) != 0) {
        fprintf(stderr, "  roundtrip of %s: expected %s, got %s\n", text, expected, got);
        rill_test_failures++;
    }
    free(got);
}

RILL_TEST(json_keeps_key_order_number_text_and_writes_compactly) {
    check_roundtrip(" { \"b\" : [ 1.50 , -0 , 1E3 , true , null ] , \"a\" : { } } ", "{\"b\":[1.50,-0,1E3,true,null],\"a\":{}}");
    check_roundtrip("\"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\u001f\\u007f\"", "\"é😀/\\b\\f\\n\\r\\t\\u001f\x7f\"");
    /* A repeated key keeps its first place and its last value (serde_json). */
    check_roundtrip("{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}");
    char *gson = roundtrip("[\"\\u2028\\u2029\"]", RILL_JSON_ESCAPE_LINE_SEPARATORS);
    RILL_CHECK(gson && strcmp(gson, "[\"\\u2028\\u2029\"]") == 0);
    free(gson);
}

RILL_TEST(json_parsing_is_strict) {
    static const char *bad[] = {
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "1e", "nul", "\"a", "\"\x01\"", "\"\\x\"",
        "\"\\ud800\"", "\"\\udc00\"", "{1:2}", "[1 2]", "1 2", "\"\xff\"", "NaN", "'a'",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *got = roundtrip(bad[i], 0);
        if (got) fprintf(stderr, "  accepted %s\n", bad[i]);
        RILL_CHECK(got == NULL);
        free(got);
    }
    char deep[300];
    memset(deep, '[', 200);
    deep[200] = 0;
    RILL_CHECK(roundtrip(deep, 0) == NULL);
}

RILL_TEST(json_errors_say_where) {
    rill_driver *d = rill_driver_new(&(rill_processor){.process = NULL}, "[");
    RILL_CHECK(rill_driver_error(d) && strstr(rill_driver_error(d), "invalid [config] table: "));
    RILL_CHECK(rill_driver_error(d) && strstr(rill_driver_error(d), "line 1 column 2"));
    rill_driver_free(d);
}

RILL_TEST(json_paths_numbers_and_building) {
    rill_json *v = rill_json_parse(NULL, rill_str("{\"a\":{\"b\":{\"c\":2.5}},\"s\":\"x\"}"));
    double n = 0;
    RILL_CHECK(rill_json_number(rill_json_path(v, "a", "b", "c", NULL), &n) && n == 2.5);
    RILL_CHECK(rill_json_path(v, "a", "nope", "c", NULL) == NULL);
    RILL_CHECK(rill_json_string(rill_json_get(v, "s")) && strcmp(rill_json_string(rill_json_get(v, "s")), "x") == 0);
    RILL_CHECK(rill_json_set(v, "s", rill_json_new_i64(-7)));
    RILL_CHECK(rill_json_set(v, "t", rill_json_new_f64(0.1)));
    rill_json *list = rill_json_new(RILL_JSON_ARRAY);
    RILL_CHECK(rill_json_push(list, rill_json_new_string("q\"", 2)));
    RILL_CHECK(rill_json_set(v, "l", list));
    rill_buf out = {0};
    rill_json_write(&out, v, 0);
    RILL_CHECK_TEXT(rill_buf_bytes(&out), "{\"a\":{\"b\":{\"c\":2.5}},\"s\":-7,\"t\":0.1,\"l\":[\"q\\\"\"]}");
    rill_buf_free(&out);
    rill_json_free(v);
}

/** serde_json's (ryu's) text for each double. */
RILL_TEST(doubles_are_written_as_serde_json_writes_them) {
    static const struct {
        double value;
        const char *text;
    } cases[] = {
        {0.1, "0.1"}, {1.0, "1.0"}, {-2.5, "-2.5"}, {0.30000000000000004, "0.30000000000000004"},
        {1e-7, "1e-7"}, {1.5e-7, "1.5e-7"}, {0.0001, "0.0001"}, {1e21, "1e21"}, {1e16, "1e16"},
        {1234567890123456.0, "1234567890123456.0"}, {123456789012345680000.0, "1.2345678901234568e20"},
        {2500.0, "2500.0"}, {0.0, "0.0"}, {-0.0, "-0.0"}, {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e308"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rill_buf out = {0};
        rill_json_write_f64(&out, cases[i].value);
        RILL_CHECK_TEXT(rill_buf_bytes(&out), cases[i].text);
        rill_buf_free(&out);
    }
    rill_buf out = {0};
    rill_json_write_f64(&out, NAN);
    RILL_CHECK_TEXT(rill_buf_bytes(&out), "null");
    rill_buf_free(&out);
}

/* ---- Codecs and text ---------------------------------------------------- */

RILL_TEST(codecs_match_rust_to_be_bytes) {
    uint8_t b[8];
    rill_f64_encode(1.0, b);
    static const uint8_t one[8] = {0x3F, 0xF0, 0, 0, 0, 0, 0, 0};
    RILL_CHECK(memcmp(b, one, 8) == 0);
    rill_i64_encode(-2, b);
    static const uint8_t minus_two[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE};
    RILL_CHECK(memcmp(b, minus_two, 8) == 0);
    int64_t i = 0;
    RILL_CHECK(rill_i64_decode(NULL, rill_bytes_of(b, 8), &i) == RILL_OK && i == -2);
    RILL_CHECK(rill_i64_decode(NULL, rill_bytes_of(b, 7), &i) == RILL_ERROR);
}

RILL_TEST(text_lengths) {
    RILL_CHECK(rill_java_length(rill_str("")) == 0);
    RILL_CHECK(rill_java_length(rill_str("é😀")) == 3);
    RILL_CHECK(rill_java_length(rill_str("\xed\xa0\x80")) == 3); /* a UTF-8 surrogate: three bad bytes */
    RILL_CHECK(rill_java_length(rill_str("\xf0\x9f\x98")) == 1);  /* a truncated emoji: one U+FFFD */
    RILL_CHECK(rill_utf8_length(rill_str("é😀")) == 2);
    RILL_CHECK(rill_utf8_length(rill_str("\xc0\x80")) == -1);
}

/* ---- A processor using stores, tables, timers and windows ----------------- */

static const rill_store COUNTS = RILL_STORE("counts");
static const rill_table NAMES = RILL_TABLE("names");

static int counting(const rill_record *record, rill_ctx *ctx) {
    int64_t n = 0;
    bool found;
    if (rill_store_get_i64(ctx, COUNTS, record->key, &n, &found) != RILL_OK) return RILL_ERROR;
    if (rill_store_put_i64(ctx, COUNTS, record->key, n + 1) != RILL_OK) return RILL_ERROR;
    rill_buf name = {0};
    int status = rill_table_get(ctx, NAMES, record->key, &name, &found);
    if (status == RILL_OK && found) status = rill_emit(ctx, "named", record->key, rill_buf_bytes(&name));
    rill_buf_free(&name);
    if (status == RILL_OK && rill_bytes_eq(record->value, "schedule"))
        status = rill_schedule(ctx, "tick", RILL_WALL_CLOCK, 1000, false);
    if (status == RILL_OK && rill_bytes_eq(record->value, "cancel")) rill_cancel(ctx, "tick");
    if (status == RILL_OK && rill_bytes_eq(record->value, "code")) return 7;
    if (status == RILL_OK && rill_bytes_eq(record->value, "log")) rill_log(RILL_INFO, "n=%lld", (long long)n);
    return status;
}

static int ticking(const rill_tick *tick, rill_ctx *ctx) {
    rill_entries entries;
    if (rill_store_range(ctx, COUNTS, rill_str("b"), rill_str("d"), 1, &entries) != RILL_OK) return RILL_ERROR;
    int status = RILL_OK;
    for (size_t i = 0; i < entries.len && status == RILL_OK; i++)
        status = rill_emit(ctx, "range", entries.items[i].key, entries.items[i].value);
    rill_entries_free(&entries);
    return status;
}

static int counting_window(const rill_window *w, rill_bytes current, const rill_record *r, rill_buf *next,
                           rill_ctx *ctx) {
    return rill_count_one(ctx, current, next);
}

static int adding(const rill_window *w, rill_bytes older, rill_bytes newer, rill_buf *merged, rill_ctx *ctx) {
    return rill_add_counts(ctx, older, newer, merged);
}

static int emitting(const rill_window_result *result, rill_ctx *ctx) {
    uint64_t n;
    if (rill_count_decode(ctx, result->value, &n) != RILL_OK) return RILL_ERROR;
    rill_buf text = {0};
    rill_buf_printf(&text, "%llu@%lld", (unsigned long long)n, (long long)result->window.start);
    int status = rill_emit(ctx, "out", result->window.key, rill_buf_bytes(&text));
    rill_buf_free(&text);
    return status;
}

static const rill_processor FULL = {
    .process = counting, .on_timer = ticking, .aggregate = counting_window, .merge = adding, .emit = emitting};

RILL_TEST(stores_tables_timers_and_logs_through_the_driver) {
    rill_driver *d = rill_driver_new(&FULL, "{}");
    rill_driver_set_table(d, "names", rill_str("b"), rill_str("Bea"));
    rill_result r = rill_driver_process_keyed(d, "b", "schedule");
    RILL_CHECK(r.ok && r.len == 1 && rill_bytes_eq(r.outputs[0].value, "Bea"));
    rill_result_free(&r);
    rill_result_free(&(rill_result){0});
    r = rill_driver_process_keyed(d, "c", "log");
    rill_result_free(&r);
    r = rill_driver_process_keyed(d, "a", "x");
    rill_result_free(&r);
    r = rill_driver_advance_wall_clock(d, 5);
    /* range [b, d) with limit 1: only b, whose count is 1. */
    RILL_CHECK(r.ok && r.len == 1 && rill_bytes_eq(r.outputs[0].key, "b"));
    if (r.len == 1) RILL_CHECK(r.outputs[0].value.len == 8 && r.outputs[0].value.data[7] == 1 && r.outputs[0].timestamp == 5);
    rill_result_free(&r);
    r = rill_driver_process_keyed(d, "a", "cancel");
    rill_result_free(&r);
    r = rill_driver_advance_wall_clock(d, 5000);
    RILL_CHECK(r.ok && r.len == 0);
    rill_result_free(&r);
    r = rill_driver_process_keyed(d, "a", "code");
    RILL_CHECK(!r.ok && strcmp(r.error, "process returned error code 7") == 0);
    rill_result_free(&r);
    RILL_CHECK(strstr(rill_driver_log(d), "INFO n=0") != NULL);
    RILL_CHECK(rill_driver_store_len(d, "counts") == 3);
    rill_driver_free(d);
}

RILL_TEST(windows_fold_count_and_emit) {
    rill_driver *d = rill_driver_new(&FULL, "{}");
    rill_window w = {rill_str("counts"), rill_str("k"), 0, 10};
    rill_record records[3] = {{.timestamp = 1}, {.timestamp = 2}, {.timestamp = 3}};
    rill_result r = rill_driver_aggregate(d, &w, rill_str("4"), records, 3, true);
    RILL_CHECK(r.ok && r.len == 3);
    if (r.len == 3) {
        RILL_CHECK_TEXT(r.outputs[0].value, "5");
        RILL_CHECK_TEXT(r.outputs[2].value, "7");
    }
    rill_result_free(&r);
    r = rill_driver_aggregate(d, &w, RILL_NULL, records, 2, false);
    RILL_CHECK(r.ok && r.len == 1 && rill_bytes_eq(r.outputs[0].value, "2"));
    rill_result_free(&r);
    rill_window_result result = {w, rill_str("12"), 9};
    r = rill_driver_emit(d, &result);
    RILL_CHECK(r.ok && r.len == 1 && rill_bytes_eq(r.outputs[0].value, "12@0") && r.outputs[0].timestamp == 9);
    rill_result_free(&r);
    r = rill_driver_aggregate(d, &w, rill_str("x"), records, 1, false);
    RILL_CHECK(!r.ok && strstr(r.error, "aggregate is not the JSON expected"));
    rill_result_free(&r);
    rill_driver_free(d);
}

static int forward_only(const rill_record *record, rill_ctx *ctx) { return rill_forward(ctx, "out"); }

static int route_by_key(const rill_record *record, rill_ctx *ctx) {
    char topic[64];
    snprintf(topic, sizeof topic, "alerts.%.*s", (int)record->key.len, (const char *)record->key.data);
    if (rill_forward_to(ctx, "by-host", topic) != RILL_OK) return RILL_ERROR;
    rill_output fixed = {.output = "alert", .value = rill_str("v")};
    return rill_emit_output(ctx, &fixed);
}

RILL_TEST(forward_to_names_the_output_and_the_topic_chosen) {
    rill_driver *d = rill_driver_new(&(rill_processor){.process = route_by_key}, "{}");
    rill_result r = rill_driver_process_at(d, "web-1", "v", 3);
    RILL_CHECK(r.ok && r.len == 2);
    RILL_CHECK(strcmp(r.outputs[0].output, "by-host:alerts.web-1") == 0);
    RILL_CHECK(rill_bytes_eq(r.outputs[0].value, "v") && r.outputs[0].timestamp == 3);
    RILL_CHECK(strcmp(r.outputs[1].output, "alert") == 0);
    rill_result_free(&r);
    rill_driver_free(d);
}

static int join_order_payment(const rill_join_result *result, rill_ctx *ctx) {
    char value[64];
    snprintf(value, sizeof value, "%.*s|%.*s", (int)result->left.len, (const char *)result->left.data,
             result->right.data ? (int)result->right.len : 4,
             result->right.data ? (const char *)result->right.data : "null");
    return rill_emit_joined(ctx, "joined", result, rill_str(value));
}

RILL_TEST(join_turns_a_join_result_into_outputs_with_its_key_and_time) {
    rill_driver *d = rill_driver_new(&(rill_processor){.process = forward_only, .join = join_order_payment}, "{}");
    rill_join_result result = {rill_str("order-payment"), rill_str("o-1"), rill_str("Bike"), RILL_NULL, 550000};
    rill_result r = rill_driver_join(d, &result);
    RILL_CHECK(r.ok && r.len == 1 && strcmp(r.outputs[0].output, "joined") == 0);
    RILL_CHECK(rill_bytes_eq(r.outputs[0].key, "o-1") && rill_bytes_eq(r.outputs[0].value, "Bike|null"));
    RILL_CHECK(r.outputs[0].timestamp == 550000);
    rill_result_free(&r);
    rill_driver_free(d);
}

RILL_TEST(callbacks_left_out_fail_with_rill_sdks_messages) {
    rill_driver *d = rill_driver_new(&(rill_processor){.process = forward_only}, "{}");
    rill_driver_with_timer(d, "flush", RILL_STREAM_TIME, 10, true);
    rill_result r = rill_driver_process_at(d, "k", "v", 10);
    RILL_CHECK(!r.ok && strcmp(r.error, "on_timer is not implemented, but timer 'flush' fired") == 0);
    rill_result_free(&r);
    rill_window w = {rill_str("win"), rill_str("k"), 0, 10};
    r = rill_driver_aggregate(d, &w, RILL_NULL, NULL, 0, false);
    RILL_CHECK(!r.ok && strcmp(r.error, "aggregate is not implemented, but records reached window store 'win'") == 0);
    rill_result_free(&r);
    rill_window_result result = {w, rill_str("1"), 9};
    r = rill_driver_emit(d, &result);
    RILL_CHECK(!r.ok && strcmp(r.error, "emit is not implemented, but window store 'win' has a result") == 0);
    rill_result_free(&r);
    rill_join_result joined = {rill_str("j"), rill_str("k"), rill_str("l"), RILL_NULL, 1};
    r = rill_driver_join(d, &joined);
    RILL_CHECK(!r.ok && strcmp(r.error, "join is not implemented, but join 'j' has a result") == 0);
    rill_result_free(&r);
    rill_driver_free(d);
}

RILL_TEST_MAIN()

/* Native tests of the C SDK's field access (tools/c/test.sh): the driver's
 * `[fields]` reader (paths, JSON Pointers, typed and raw values, the
 * canonical flag), the typed reads and their messages, the value the host
 * keeps, forwarding under fields, and rill_json_with_member. */
#include "rill_testing.h"

#include <stdlib.h>

/* ---- A processor that describes every field it gets ------------------- */

/** One line per declared field: `name=kind:text`, raw text marked `!` when
 *  canonical. */
static int describe(const rill_record *record, rill_ctx *ctx) {
    rill_buf out = {0};
    for (size_t i = 0; i < rill_field_count(record); i++) {
        rill_field_value f = rill_field_at(record, i);
        switch (f.kind) {
        case RILL_FIELD_MISSING: rill_buf_printf(&out, "%zu=missing\n", i); break;
        case RILL_FIELD_NULL: rill_buf_printf(&out, "%zu=null\n", i); break;
        case RILL_FIELD_BOOL: rill_buf_printf(&out, "%zu=bool:%d\n", i, f.boolean); break;
        case RILL_FIELD_NUMBER: rill_buf_printf(&out, "%zu=number:%g\n", i, f.number); break;
        case RILL_FIELD_TEXT: rill_buf_printf(&out, "%zu=text:%.*s\n", i, (int)f.text.len, (const char *)f.text.data); break;
        case RILL_FIELD_RAW:
            rill_buf_printf(&out, "%zu=raw%s:%.*s\n", i, f.raw.canonical ? "!" : "", (int)f.raw.text.len,
                            (const char *)f.raw.text.data);
            break;
        case RILL_FIELD_ERROR:
            rill_buf_printf(&out, "%zu=error:%.*s\n", i, (int)f.text.len, (const char *)f.text.data);
            break;
        }
    }
    int status = rill_map_value(ctx, "out", rill_buf_bytes(&out));
    rill_buf_free(&out);
    return status;
}

/** The description `describe` gives of `value` (malloc'd), or the error. */
static char *described(rill_driver *d, const char *value) {
    rill_result r = rill_driver_process_value(d, value);
    rill_buf text = {0};
    if (r.ok && r.len == 1) rill_buf_append(&text, r.outputs[0].value.data, r.outputs[0].value.len);
    else rill_buf_puts(&text, r.error ? r.error : "no output");
    rill_result_free(&r);
    rill_buf_cstr(&text);
    return (char *)text.data;
}

static void check_described(rill_driver *d, const char *value, const char *expected) {
    char *got = described(d, value);
    if (strcmp(got, expected) != 0) {
        fprintf(stderr, "  fields of %s:\n  expected %s  got      %s\n", value, expected, got);
        rill_test_failures++;
    }
    free(got);
}

RILL_TEST(paths_pointers_and_kinds_are_read_as_the_host_reads_them) {
    rill_driver *d = rill_driver_new(&(rill_processor){.process = describe}, "{}");
    rill_driver_with_field(d, "pct", "system.cpu.pct", RILL_FIELD_AS_VALUE);
    rill_driver_with_field(d, "second", "list.1", RILL_FIELD_AS_VALUE);
    rill_driver_with_field(d, "dotted", "/a.b/~0~1", RILL_FIELD_AS_VALUE);
    rill_driver_with_field(d, "name", "name", RILL_FIELD_AS_VALUE);
    rill_driver_with_field(d, "flag", "flag", RILL_FIELD_AS_VALUE);
    rill_driver_with_field(d, "nothing", "nothing", RILL_FIELD_AS_VALUE);
    rill_driver_with_field(d, "gone", "system.gone", RILL_FIELD_AS_VALUE);
    rill_driver_with_field(d, "host", "host", RILL_FIELD_AS_VALUE);
    rill_driver_with_field(d, "raw_name", "name", RILL_FIELD_AS_RAW);
    check_described(d,
                    "{\"system\":{\"cpu\":{\"pct\":0.25}},\"list\":[\"x\", 7],\"a.b\":{\"~/\":true},"
                    "\"name\":\"caf\\u00e9 \\\"q\\\"\",\"flag\":false,\"nothing\":null,\"host\":{\"n\":1}}",
                    "0=number:0.25\n1=number:7\n2=bool:1\n3=text:café \"q\"\n4=bool:0\n5=null\n6=missing\n"
                    "7=raw!:{\"n\":1}\n8=raw:\"caf\\u00e9 \\\"q\\\"\"\n");
    /* A repeated key: the last value, as serde_json reads it. */
    check_described(d, "{\"name\":\"a\",\"name\":\"b\"}",
                    "0=missing\n1=missing\n2=missing\n3=text:b\n4=missing\n5=missing\n6=missing\n7=missing\n"
                    "8=raw!:\"b\"\n");
    rill_driver_free(d);
}

RILL_TEST(raw_text_is_canonical_only_when_a_compact_writer_would_write_it) {
    rill_driver *d = rill_driver_new(&(rill_processor){.process = describe}, "{}");
    rill_driver_with_field(d, "v", "v", RILL_FIELD_AS_RAW);
    static const struct {
        const char *value;
        const char *expected;
    } cases[] = {
        {"{\"v\":{\"a\":[1,-0.5,\"\\n\\u001f\\u2028\"],\"b\":{}}}", "0=raw!:{\"a\":[1,-0.5,\"\\n\\u001f\\u2028\"],\"b\":{}}\n"},
        {"{\"v\": {\"a\":1}}", "0=raw!:{\"a\":1}\n"},
        {"{\"v\":{\"a\": 1}}", "0=raw:{\"a\": 1}\n"},
        {"{\"v\":1e-07}", "0=raw:1e-07\n"},
        {"{\"v\":\"\\/\"}", "0=raw:\"\\/\"\n"},
        {"{\"v\":\"\\u001F\"}", "0=raw:\"\\u001F\"\n"},
        {"{\"v\":\"\\u0041\"}", "0=raw:\"\\u0041\"\n"},
        {"{\"v\":\"\xe2\x80\xa8\"}", "0=raw:\"\xe2\x80\xa8\"\n"},
        {"{\"v\":{\"a\":1,\"a\":2}}", "0=raw:{\"a\":1,\"a\":2}\n"},
        {"{\"v\":1.50}", "0=raw!:1.50\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_described(d, cases[i].value, cases[i].expected);
    rill_driver_free(d);
}

RILL_TEST(a_value_that_is_null_or_not_json_has_no_fields) {
    rill_driver *d = rill_driver_new(&(rill_processor){.process = describe}, "{}");
    rill_driver_with_field(d, "v", "v", RILL_FIELD_AS_VALUE);
    check_described(d, "{\"v\":", "0=error:the value is not JSON: EOF while parsing a value at line 1 column 6\n");
    check_described(d, NULL, "0=error:the value is null\n");
    rill_driver_free(d);
}

/* ---- Typed reads ------------------------------------------------------ */

/** Reads `pct` as a number and `host` as raw; emits "pct host". */
static int typed_reads(const rill_record *record, rill_ctx *ctx) {
    double pct;
    rill_raw_json host;
    if (rill_field_number(ctx, record, "pct", &pct) != RILL_OK) return RILL_ERROR;
    if (rill_field_raw(ctx, record, "host", &host) != RILL_OK) return RILL_ERROR;
    rill_buf out = {0};
    rill_buf_printf(&out, "%g %.*s", pct, (int)host.text.len, (const char *)host.text.data);
    int status = rill_map_value(ctx, "out", rill_buf_bytes(&out));
    rill_buf_free(&out);
    return status;
}

/** The error `value` gives (malloc'd), or "ok: <output>". */
static char *outcome(rill_driver *d, const char *value) {
    rill_result r = rill_driver_process_value(d, value);
    rill_buf text = {0};
    if (r.ok && r.len == 1) rill_buf_printf(&text, "ok: %.*s", (int)r.outputs[0].value.len, (const char *)r.outputs[0].value.data);
    else rill_buf_printf(&text, "%s", r.error ? r.error : "no output");
    rill_result_free(&r);
    rill_buf_cstr(&text);
    return (char *)text.data;
}

static void check_outcome(rill_driver *d, const char *value, const char *expected) {
    char *got = outcome(d, value);
    if (strcmp(got, expected) != 0) {
        fprintf(stderr, "  %s:\n  expected %s\n  got      %s\n", value ? value : "(null)", expected, got);
        rill_test_failures++;
    }
    free(got);
}

RILL_TEST(typed_reads_fail_with_what_is_wrong) {
    rill_driver *d = rill_driver_new(&(rill_processor){.process = typed_reads}, "{}");
    rill_driver_with_field(d, "pct", "p", RILL_FIELD_AS_VALUE);
    rill_driver_with_field(d, "host", "h", RILL_FIELD_AS_VALUE);
    check_outcome(d, "{\"p\":0.5,\"h\":{\"n\":\"x\"}}", "ok: 0.5 {\"n\":\"x\"}");
    check_outcome(d, "{\"h\":{}}", "missing field `pct`");
    check_outcome(d, "{\"p\":\"0.5\",\"h\":{}}", "invalid type for field `pct`: expected a number, found text");
    check_outcome(d, "{\"p\":1,\"h\":\"x\"}", "invalid type for field `host`: expected raw JSON, found text");
    check_outcome(d, "not json", "the value is not JSON: expected value at line 1 column 1");
    rill_driver_free(d);

    /* A name the manifest does not declare is a mistake worth naming. */
    d = rill_driver_new(&(rill_processor){.process = typed_reads}, "{}");
    rill_driver_with_field(d, "pcts", "p", RILL_FIELD_AS_VALUE);
    check_outcome(d, "{\"p\":1}", "field `pct` is not declared in the manifest's [fields] (declared: pcts)");
    rill_driver_free(d);

    /* Without [fields] at all. */
    d = rill_driver_new(&(rill_processor){.process = typed_reads}, "{}");
    check_outcome(d, "{\"p\":1}", "field `pct`: the manifest declares no [fields]");
    rill_driver_free(d);
}

/* ---- The value the host keeps, and forwarding ------------------------- */

/** Parses the value (which needs input-value = "bytes" under [fields]). */
static int parse_value(const rill_record *record, rill_ctx *ctx) {
    rill_json *v = rill_record_json(ctx, record);
    if (!v) return RILL_ERROR;
    rill_json_free(v);
    return rill_forward(ctx, "out");
}

RILL_TEST(reading_a_value_the_host_kept_fails_with_the_fix) {
    rill_driver *d = rill_driver_new(&(rill_processor){.process = parse_value}, "{}");
    rill_driver_with_field(d, "a", "a", RILL_FIELD_AS_VALUE);
    char *got = outcome(d, "{\"a\":1}");
    RILL_CHECK(strstr(got, "input-value = \"bytes\"") != NULL);
    free(got);
    rill_driver_with_input_bytes(d);
    check_outcome(d, "{\"a\":1}", "ok: {\"a\":1}");
    rill_driver_free(d);
}

/** Forwards every record. */
static int forward(const rill_record *record, rill_ctx *ctx) {
    RILL_CHECK(record->value_omitted && rill_is_null(record->value));
    return rill_forward(ctx, "out");
}

RILL_TEST(forward_under_fields_sends_the_inputs_value) {
    rill_driver *d = rill_driver_new(&(rill_processor){.process = forward}, "{}");
    rill_driver_with_field(d, "a", "a", RILL_FIELD_AS_VALUE);
    rill_result r = rill_driver_process_at(d, "k", "{\"a\":1}", 42);
    RILL_CHECK(r.ok && r.len == 1);
    if (r.len == 1) {
        RILL_CHECK_TEXT(r.outputs[0].key, "k");
        RILL_CHECK_TEXT(r.outputs[0].value, "{\"a\":1}");
        RILL_CHECK(r.outputs[0].timestamp == 42);
    }
    rill_result_free(&r);
    rill_driver_free(d);
}

/* ---- rill_json_with_member -------------------------------------------- */

static rill_raw_json raw(const char *text, bool canonical) { return (rill_raw_json){rill_str(text), canonical}; }

RILL_TEST(with_member_splices_only_what_it_can_prove) {
    rill_buf out = {0};
    RILL_CHECK(rill_json_with_member(raw("{\"a\":1}", true), "b", raw("\"x\"", true), &out));
    RILL_CHECK_TEXT(rill_buf_bytes(&out), "{\"a\":1,\"b\":\"x\"}");
    rill_buf_clear(&out);
    /* An empty object gets no leading comma. */
    RILL_CHECK(rill_json_with_member(raw("{}", true), "timestamp", raw("1.5", true), &out));
    RILL_CHECK_TEXT(rill_buf_bytes(&out), "{\"timestamp\":1.5}");
    rill_buf_clear(&out);
    rill_buf_puts(&out, "kept");
    /* The key there already, even only as text, or anything not canonical: no splice, out untouched. */
    RILL_CHECK(!rill_json_with_member(raw("{\"b\":1}", true), "b", raw("2", true), &out));
    RILL_CHECK(!rill_json_with_member(raw("{\"a\":\"b\"}", true), "b", raw("2", true), &out));
    RILL_CHECK(!rill_json_with_member(raw("{\"a\":[\"b\"]}", true), "b", raw("2", true), &out));
    RILL_CHECK(!rill_json_with_member(raw("{\"a\":1}", false), "b", raw("2", true), &out));
    RILL_CHECK(!rill_json_with_member(raw("{\"a\":1}", true), "b", raw("1e-07", false), &out));
    RILL_CHECK(!rill_json_with_member(raw("[1]", true), "b", raw("2", true), &out));
    RILL_CHECK(!rill_json_with_member(raw("\"{}\"", true), "b", raw("2", true), &out));
    RILL_CHECK_TEXT(rill_buf_bytes(&out), "kept");
    rill_buf_free(&out);
}

RILL_TEST_MAIN()

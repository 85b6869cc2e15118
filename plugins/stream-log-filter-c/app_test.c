/* Native tests of stream-log-filter-c (tools/c/test.sh): the seed's console
 * session, lengths as Java counts them, a null value dead-lettered. */
#include "rill_testing.h"

/** Whether `value` passes the filter. */
static bool kept(rill_driver *d, const char *value) {
    rill_result r = rill_driver_process_value(d, value);
    RILL_CHECK(r.ok);
    bool passed = r.len == 1 && strcmp(r.outputs[0].output, "long") == 0 && rill_bytes_eq(r.outputs[0].value, value);
    rill_result_free(&r);
    return passed;
}

RILL_TEST(the_seed_keeps_streams_and_monday) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{}");
    RILL_CHECK(!kept(d, "hello"));
    RILL_CHECK(kept(d, "streams"));
    RILL_CHECK(!kept(d, "kafka"));
    RILL_CHECK(!kept(d, "world"));
    RILL_CHECK(kept(d, "monday"));
    rill_driver_free(d);
}

RILL_TEST(length_counts_characters_as_java_does_not_bytes) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{}");
    RILL_CHECK(!kept(d, "안녕하세요"));   /* five characters, fifteen bytes */
    RILL_CHECK(kept(d, "안녕하세요!"));
    RILL_CHECK(kept(d, "ab😀cd"));      /* an emoji is two UTF-16 code units */
    RILL_CHECK(!kept(d, "a😀😀"));
    RILL_CHECK(!kept(d, "abcde"));
    RILL_CHECK(!kept(d, "\xff\xfe\xfd\xfc\xfb")); /* five bad bytes: five U+FFFD */
    RILL_CHECK(kept(d, "\xff\xfe\xfd\xfc\xfb\xfa"));
    RILL_CHECK(!kept(d, "ab\xe2\x82")); /* a truncated sequence is one U+FFFD */
    rill_driver_free(d);
}

RILL_TEST(a_null_value_is_dead_lettered) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{}");
    rill_result r = rill_driver_process_keyed(d, "k", NULL);
    RILL_CHECK(!r.ok && r.error && strcmp(r.error, "record has a null value") == 0);
    rill_result_free(&r);
    rill_driver_free(d);
}

RILL_TEST_MAIN()

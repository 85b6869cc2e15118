/* {{name}} run natively by tools/c/test.sh (gcc, with AddressSanitizer and
 * UndefinedBehaviorSanitizer): no component, no broker. */
#include "rill_testing.h"

/** Whether `value` is forwarded, unchanged, to `long`. */
static bool kept(rill_driver *d, const char *value) {
    rill_result r = rill_driver_process_value(d, value);
    RILL_CHECK(r.ok);
    bool passed = r.len == 1 && strcmp(r.outputs[0].output, "long") == 0 && rill_bytes_eq(r.outputs[0].value, value);
    rill_result_free(&r);
    return passed;
}

RILL_TEST(values_longer_than_min_length_characters_pass) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{\"min-length\":5}");
    RILL_CHECK(!kept(d, "kafka"));
    RILL_CHECK(kept(d, "streams"));
    /* Five Hangul syllables are 5 characters (15 bytes): not longer than 5. */
    RILL_CHECK(!kept(d, "안녕하세요"));
    RILL_CHECK(kept(d, "안녕하세요!"));
    rill_driver_free(d);
}

RILL_TEST(a_null_value_is_dead_lettered_with_the_reason) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{\"min-length\":5}");
    rill_result r = rill_driver_process_keyed(d, "k", NULL);
    RILL_CHECK(!r.ok && r.error && strcmp(r.error, "record has a null value") == 0);
    rill_result_free(&r);
    rill_driver_free(d);
}

RILL_TEST(a_value_that_is_not_utf8_is_dead_lettered) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{\"min-length\":1}");
    rill_result r = rill_driver_process_value(d, "\xff\xfe\xfd");
    RILL_CHECK(!r.ok && r.error && strcmp(r.error, "the value is not UTF-8") == 0);
    rill_result_free(&r);
    rill_driver_free(d);
}

RILL_TEST(min_length_must_be_an_integer) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{\"min-length\":\"5\"}");
    const char *error = rill_driver_error(d);
    RILL_CHECK(error && strstr(error, "min-length must be an integer"));
    rill_driver_free(d);
}

RILL_TEST_MAIN()

/* Native tests of stream-log-copy-c (tools/c/test.sh): the seed's console
 * session, and records copied byte for byte. */
#include "rill_testing.h"

RILL_TEST(the_seed_lines_are_copied_in_order) {
    static const char *seed[] = {"hello", "my", "name", "is", "jihun"};
    rill_driver *d = rill_driver_new(&rill_processor_def, "{}");
    for (size_t i = 0; i < 5; i++) {
        rill_result r = rill_driver_process_value(d, seed[i]);
        RILL_CHECK(r.ok && r.len == 1);
        if (r.len == 1) {
            RILL_CHECK(strcmp(r.outputs[0].output, "copy") == 0);
            RILL_CHECK_TEXT(r.outputs[0].value, seed[i]);
            RILL_CHECK(rill_is_null(r.outputs[0].key));
        }
        rill_result_free(&r);
    }
    rill_driver_free(d);
}

RILL_TEST(keys_values_headers_and_timestamps_are_kept_byte_for_byte) {
    rill_driver *d = rill_driver_new(&rill_processor_def, "{}");
    static const uint8_t key[] = {0xff, 0x00}, value[] = {0x80, 'x'};
    rill_header header = {rill_str("h"), RILL_NULL};
    rill_record record = {.key = rill_bytes_of(key, 2), .value = rill_bytes_of(value, 2), .timestamp = 77,
                          .headers = &header, .header_count = 1};
    rill_result r = rill_driver_process(d, &record);
    RILL_CHECK(r.ok && r.len == 1);
    if (r.len == 1) {
        RILL_CHECK(r.outputs[0].key.len == 2 && memcmp(r.outputs[0].key.data, key, 2) == 0);
        RILL_CHECK(r.outputs[0].value.len == 2 && memcmp(r.outputs[0].value.data, value, 2) == 0);
        RILL_CHECK(r.outputs[0].header_count == 1 && rill_bytes_eq(r.outputs[0].headers[0].key, "h"));
        RILL_CHECK(r.outputs[0].header_count == 1 && rill_is_null(r.outputs[0].headers[0].value));
        RILL_CHECK(r.outputs[0].timestamp == 77);
    }
    rill_result_free(&r);
    r = rill_driver_process_keyed(d, "k", NULL);
    RILL_CHECK(r.ok && r.len == 1 && rill_is_null(r.outputs[0].value));
    rill_result_free(&r);
    rill_driver_free(d);
}

RILL_TEST_MAIN()

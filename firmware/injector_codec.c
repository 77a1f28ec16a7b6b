/* injector_codec.c: the reference framing codec (see injector_codec.h). */

#include "injector_codec.h"

uint16_t inj_crc16(const uint8_t *data, size_t length)
{
    uint16_t crc = INJ_CRC16_INIT;
    size_t i;
    int bit;

    for (i = 0; i < length; i++) {
        crc ^= (uint16_t)((unsigned)data[i] << 8);
        for (bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ INJ_CRC16_POLY)
                                  : (uint16_t)(crc << 1);
        }
    }
    return (uint16_t)(crc ^ INJ_CRC16_XOROUT);
}

size_t inj_cobs_encode(const uint8_t *data, size_t length, uint8_t *out, size_t capacity)
{
    size_t code_at = 0;     /* where the current run's code byte goes */
    size_t written = 1;     /* bytes of `out` used, the pending code byte included */
    uint8_t code = 1;       /* the current run's length plus one */
    size_t i;

    if (capacity == 0) {
        return 0;
    }
    for (i = 0; i < length; i++) {
        if (data[i] == 0) {
            out[code_at] = code;
            code_at = written++;
            code = 1;
        } else {
            if (written >= capacity) {
                return 0;
            }
            out[written++] = data[i];
            code++;
            if (code == INJ_COBS_FULL_RUN_CODE) {
                /* A full run of 254: no zero implied; the next run starts at once. */
                out[code_at] = code;
                code_at = written++;
                code = 1;
            }
        }
        if (written > capacity) {
            return 0;
        }
    }
    out[code_at] = code;    /* the last run always gets its code byte, empty or not */
    return written;
}

bool inj_cobs_decode(const uint8_t *stuffed, size_t length, uint8_t *out, size_t capacity,
                     size_t *out_length)
{
    size_t index = 0;
    size_t written = 0;

    while (index < length) {
        uint8_t code = stuffed[index];
        size_t end = index + code;
        size_t i;

        if (code == 0 || end > length) {
            return false;
        }
        for (i = index + 1; i < end; i++) {
            if (stuffed[i] == 0 || written >= capacity) {
                return false;
            }
            out[written++] = stuffed[i];
        }
        index = end;
        if (code != INJ_COBS_FULL_RUN_CODE && index < length) {
            if (written >= capacity) {
                return false;
            }
            out[written++] = 0;
        }
    }
    *out_length = written;
    return true;
}

size_t inj_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, uint8_t length,
                        uint8_t *wire, size_t capacity)
{
    uint8_t body[INJ_MAX_FRAME];
    size_t size = INJ_FRAME_HEADER_SIZE + (size_t)length;
    size_t stuffed;

    body[INJ_FRAME_VERSION_OFFSET] = INJ_PROTOCOL_VERSION;
    body[INJ_FRAME_TYPE_OFFSET] = type;
    inj_put_u16(body + INJ_FRAME_SEQ_OFFSET, seq);
    body[INJ_FRAME_LENGTH_OFFSET] = length;
    if (length > 0) {
        memcpy(body + INJ_FRAME_PAYLOAD_OFFSET, payload, length);
    }
    inj_put_u16(body + size, inj_crc16(body, size));
    size += INJ_FRAME_CRC_SIZE;
    if (capacity < 1) {
        return 0;
    }
    stuffed = inj_cobs_encode(body, size, wire, capacity - 1);
    if (stuffed == 0) {
        return 0;
    }
    wire[stuffed] = INJ_FRAME_DELIMITER;
    return stuffed + 1;
}

bool inj_frame_decode(const uint8_t *stuffed, size_t length, inj_frame_t *frame)
{
    uint8_t body[INJ_MAX_FRAME];
    size_t size;
    uint8_t payload_length;

    if (length == 0 || length > INJ_MAX_STUFFED
        || !inj_cobs_decode(stuffed, length, body, sizeof body, &size)) {
        return false;
    }
    if (size < INJ_FRAME_HEADER_SIZE + INJ_FRAME_CRC_SIZE) {
        return false;
    }
    payload_length = body[INJ_FRAME_LENGTH_OFFSET];
    if (size != INJ_FRAME_HEADER_SIZE + (size_t)payload_length + INJ_FRAME_CRC_SIZE) {
        return false;
    }
    if (inj_get_u16(body + size - INJ_FRAME_CRC_SIZE)
        != inj_crc16(body, size - INJ_FRAME_CRC_SIZE)) {
        return false;
    }
    frame->version = body[INJ_FRAME_VERSION_OFFSET];
    frame->type = body[INJ_FRAME_TYPE_OFFSET];
    frame->seq = inj_get_u16(body + INJ_FRAME_SEQ_OFFSET);
    frame->length = payload_length;
    memcpy(frame->payload, body + INJ_FRAME_PAYLOAD_OFFSET, payload_length);
    return true;
}

void inj_receiver_init(inj_receiver_t *receiver)
{
    receiver->used = 0;
    receiver->overflowed = false;
    receiver->frames_ok = 0;
    receiver->frames_bad = 0;
}

bool inj_receiver_feed(inj_receiver_t *receiver, uint8_t byte, inj_frame_t *frame)
{
    bool valid;

    if (byte != INJ_FRAME_DELIMITER) {
        if (receiver->overflowed) {
            return false;               /* skipping to the next delimiter */
        }
        if (receiver->used == sizeof receiver->buffer) {
            /* No delimiter where one must have been: garbage. */
            receiver->frames_bad++;
            receiver->used = 0;
            receiver->overflowed = true;
            return false;
        }
        receiver->buffer[receiver->used++] = byte;
        return false;
    }
    if (receiver->overflowed) {
        receiver->overflowed = false;
        return false;
    }
    if (receiver->used == 0) {
        return false;                   /* back-to-back delimiters: idle line */
    }
    valid = inj_frame_decode(receiver->buffer, receiver->used, frame);
    receiver->used = 0;
    if (valid) {
        receiver->frames_ok++;
    } else {
        receiver->frames_bad++;
    }
    return valid;
}

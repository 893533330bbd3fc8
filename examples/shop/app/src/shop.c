#include "shop.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s) {
    while (*s && isspace((unsigned char)*s)) {
        s++;
    }
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) {
        *--end = '\0';
    }
    return s;
}

int shop_split_csv(char *line, char **fields, int max) {
    int n = 0;
    char *start = line;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line;; p++) {
        if (*p == ',' || *p == '\0') {
            int last = (*p == '\0');
            *p = '\0';
            if (n < max) {
                fields[n] = trim(start);
            }
            n++;
            if (last) {
                break;
            }
            start = p + 1;
        }
    }
    return n;
}

int shop_parse_price(const char *text, long *cents) {
    const char *p = text;
    long whole = 0;
    long frac = 0;
    int frac_digits = 0;
    if (!isdigit((unsigned char)*p)) {
        return -1;
    }
    while (isdigit((unsigned char)*p)) {
        whole = whole * 10 + (*p++ - '0');
        if (whole > 100000000L) {
            return -1;
        }
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            if (++frac_digits > 2) {
                return -1;
            }
            frac = frac * 10 + (*p++ - '0');
        }
        if (frac_digits == 0) {
            return -1;
        }
    }
    if (*p != '\0') {
        return -1;
    }
    if (frac_digits == 1) {
        frac *= 10;
    }
    *cents = whole * 100 + frac;
    return 0;
}

static int parse_count(const char *text, long *out) {
    char *end = NULL;
    if (!isdigit((unsigned char)*text)) {
        return -1;
    }
    long v = strtol(text, &end, 10);
    if (*end != '\0' || v < 0 || v > 1000000000L) {
        return -1;
    }
    *out = v;
    return 0;
}

shop_item *shop_find(shop_inventory *inv, const char *sku) {
    for (size_t i = 0; i < inv->count; i++) {
        if (strcmp(inv->items[i].sku, sku) == 0) {
            return &inv->items[i];
        }
    }
    return NULL;
}

int shop_add_item(shop_inventory *inv, char *line) {
    char *f[4];
    if (shop_split_csv(line, f, 4) != 4 || inv->count >= SHOP_MAX_ITEMS) {
        return -1;
    }
    if (f[0][0] == '\0' || strlen(f[0]) >= SHOP_SKU_LEN || strlen(f[1]) >= SHOP_NAME_LEN) {
        return -1;
    }
    if (shop_find(inv, f[0]) != NULL) {
        return -1;
    }
    shop_item item;
    memset(&item, 0, sizeof item);
    strcpy(item.sku, f[0]);
    strcpy(item.name, f[1]);
    if (shop_parse_price(f[2], &item.price_cents) != 0 || parse_count(f[3], &item.stock) != 0) {
        return -1;
    }
    inv->items[inv->count++] = item;
    return 0;
}

long shop_tax(long amount_cents, long rate_bp) {
    return (amount_cents * rate_bp + 5000) / 10000;
}

int shop_apply_order_line(shop_inventory *inv, char *line, char *order_id, size_t id_len, long *subtotal) {
    char *f[3];
    long qty = 0;
    if (shop_split_csv(line, f, 3) != 3 || f[0][0] == '\0' || strlen(f[0]) >= id_len) {
        return -1;
    }
    if (parse_count(f[2], &qty) != 0 || qty == 0) {
        return -1;
    }
    shop_item *item = shop_find(inv, f[1]);
    if (item == NULL) {
        return -1;
    }
    strcpy(order_id, f[0]);
    if (item->stock < qty) {
        return -2;
    }
    item->stock -= qty;
    *subtotal += item->price_cents * qty;
    return 0;
}

const char *shop_money(long cents, char *buf, size_t len) {
    snprintf(buf, len, "%s%ld.%02ld", cents < 0 ? "-" : "", labs(cents) / 100, labs(cents) % 100);
    return buf;
}

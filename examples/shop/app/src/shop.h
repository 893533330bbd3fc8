/* shop: order totals and stock levels from two CSV files. The logic lives in shop.c so the unit
 * tests (tests/test_shop.c) can call it; main.c only does the I/O. Money is in integer cents. */
#ifndef SHOP_H
#define SHOP_H

#include <stddef.h>

#define SHOP_MAX_ITEMS 256
#define SHOP_SKU_LEN 32
#define SHOP_NAME_LEN 64

typedef struct {
    char sku[SHOP_SKU_LEN];
    char name[SHOP_NAME_LEN];
    long price_cents; /* unit price */
    long stock;       /* units on hand */
} shop_item;

typedef struct {
    shop_item items[SHOP_MAX_ITEMS];
    size_t count;
} shop_inventory;

/* Parse "a,b,c" into at most `max` fields, in place (the line is modified). Trailing CR/LF is
 * dropped and surrounding spaces of each field are trimmed. Returns the number of fields. */
int shop_split_csv(char *line, char **fields, int max);

/* Parse a decimal price such as "12.5" or "3.99" into cents. Returns 0 on success, -1 on
 * malformed input (negative, more than two decimals, not a number). */
int shop_parse_price(const char *text, long *cents);

/* Add an inventory line "sku,name,price,stock". Returns 0, or -1 on a malformed line, a
 * duplicate sku or a full inventory. */
int shop_add_item(shop_inventory *inv, char *line);

shop_item *shop_find(shop_inventory *inv, const char *sku);

/* Tax on an amount, in basis points (2000 = 20 %), rounded half up to the cent. */
long shop_tax(long amount_cents, long rate_bp);

/* Apply an order line "order_id,sku,qty": takes stock and adds the line's price to *subtotal.
 * Returns 0, -1 on a malformed line or unknown sku, -2 when stock is insufficient (nothing taken). */
int shop_apply_order_line(shop_inventory *inv, char *line, char *order_id, size_t id_len, long *subtotal);

/* Format cents as "1234.56" into buf. */
const char *shop_money(long cents, char *buf, size_t len);

#endif

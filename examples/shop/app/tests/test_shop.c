/* Unit tests of the shop logic (src/shop.c): real assertions, exit 1 on the first failure. */
#include "../src/shop.h"

#include <stdio.h>
#include <string.h>

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        checks++;                                                                     \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                               \
        }                                                                             \
    } while (0)

static void test_split(void) {
    char line[] = " a , b,c \r\n";
    char *f[4];
    CHECK(shop_split_csv(line, f, 4) == 3);
    CHECK(strcmp(f[0], "a") == 0 && strcmp(f[1], "b") == 0 && strcmp(f[2], "c") == 0);
    char empty[] = "x,,y";
    CHECK(shop_split_csv(empty, f, 4) == 3 && f[1][0] == '\0');
}

static void test_price(void) {
    long c = -1;
    CHECK(shop_parse_price("3.99", &c) == 0 && c == 399);
    CHECK(shop_parse_price("12.5", &c) == 0 && c == 1250);
    CHECK(shop_parse_price("7", &c) == 0 && c == 700);
    CHECK(shop_parse_price("0.05", &c) == 0 && c == 5);
    CHECK(shop_parse_price("1.999", &c) == -1);
    CHECK(shop_parse_price("-1", &c) == -1);
    CHECK(shop_parse_price("1.", &c) == -1);
    CHECK(shop_parse_price("abc", &c) == -1);
    CHECK(shop_parse_price("", &c) == -1);
}

static void test_tax_and_money(void) {
    char buf[32];
    CHECK(shop_tax(1000, 2000) == 200);
    CHECK(shop_tax(999, 2000) == 200);  /* 199.8 -> 200 */
    CHECK(shop_tax(1, 2000) == 0);      /* 0.2 -> 0 */
    CHECK(shop_tax(25, 2000) == 5);
    CHECK(shop_tax(1234, 0) == 0);
    CHECK(strcmp(shop_money(123456, buf, sizeof buf), "1234.56") == 0);
    CHECK(strcmp(shop_money(5, buf, sizeof buf), "0.05") == 0);
    CHECK(strcmp(shop_money(-250, buf, sizeof buf), "-2.50") == 0);
}

static void test_inventory_and_orders(void) {
    static shop_inventory inv;
    memset(&inv, 0, sizeof inv);
    char l1[] = "TEA-01,Green tea,3.50,10";
    char l2[] = "MUG-02,Mug,8,2";
    char dup[] = "TEA-01,Other tea,1,1";
    char bad[] = "X-1,Broken,cheap,3";
    CHECK(shop_add_item(&inv, l1) == 0);
    CHECK(shop_add_item(&inv, l2) == 0);
    CHECK(shop_add_item(&inv, dup) == -1);
    CHECK(shop_add_item(&inv, bad) == -1);
    CHECK(inv.count == 2);
    CHECK(shop_find(&inv, "MUG-02") != NULL && shop_find(&inv, "MUG-02")->price_cents == 800);
    CHECK(shop_find(&inv, "NOPE") == NULL);

    char id[32];
    long subtotal = 0;
    char o1[] = "1001,TEA-01,4";
    CHECK(shop_apply_order_line(&inv, o1, id, sizeof id, &subtotal) == 0);
    CHECK(strcmp(id, "1001") == 0 && subtotal == 1400);
    CHECK(shop_find(&inv, "TEA-01")->stock == 6);

    char o2[] = "1001,MUG-02,3"; /* only 2 in stock: nothing taken */
    CHECK(shop_apply_order_line(&inv, o2, id, sizeof id, &subtotal) == -2);
    CHECK(subtotal == 1400 && shop_find(&inv, "MUG-02")->stock == 2);

    char o3[] = "1002,GHOST,1";
    CHECK(shop_apply_order_line(&inv, o3, id, sizeof id, &subtotal) == -1);
    char o4[] = "1002,MUG-02,0";
    CHECK(shop_apply_order_line(&inv, o4, id, sizeof id, &subtotal) == -1);
    char o5[] = "1002,MUG-02";
    CHECK(shop_apply_order_line(&inv, o5, id, sizeof id, &subtotal) == -1);
}

int main(void) {
    test_split();
    test_price();
    test_tax_and_money();
    test_inventory_and_orders();
    if (failures != 0) {
        fprintf(stderr, "%d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("all %d checks passed\n", checks);
    return 0;
}

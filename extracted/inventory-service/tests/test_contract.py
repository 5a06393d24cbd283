"""Contract tests of inventory, written once and run against every binding."""

from __future__ import annotations

import pytest

from contracts.errors import RequestInvalid
from contracts.inventory import Inventory, QuantityInvalid, SkuNotFound, StockLevel

CONTRACT = Inventory


def test_stock_set_for_a_new_sku_reads_back(binding: Inventory) -> None:
    item = binding.set_stock("sku-red", StockLevel(quantity=7))
    assert (item.sku, item.on_hand, item.reserved, item.available) == ("sku-red", 7, 0, 7)
    assert binding.get_stock("sku-red") == item


def test_setting_stock_again_replaces_the_quantity(binding: Inventory) -> None:
    binding.set_stock("sku-blue", StockLevel(quantity=3))
    assert binding.set_stock("sku-blue", StockLevel(quantity=9)).on_hand == 9


def test_availability_tells_whether_the_quantity_can_be_sold(binding: Inventory) -> None:
    binding.set_stock("sku-green", StockLevel(quantity=2))
    assert binding.check_availability("sku-green", 2).in_stock is True
    too_many = binding.check_availability("sku-green", 3)
    assert (too_many.in_stock, too_many.available, too_many.requested) == (False, 2, 3)
    assert binding.check_availability("sku-green").requested == 1


def test_an_unknown_sku_is_not_found(binding: Inventory) -> None:
    with pytest.raises(SkuNotFound) as caught:
        binding.get_stock("sku-never")
    assert "sku-never" in caught.value.detail
    with pytest.raises(SkuNotFound):
        binding.check_availability("sku-never", 1)


def test_a_quantity_below_one_is_invalid(binding: Inventory) -> None:
    binding.set_stock("sku-gold", StockLevel(quantity=1))
    # Over HTTP the contract's bound (quantity >= 1) refuses it before the service does.
    with pytest.raises((QuantityInvalid, RequestInvalid)) as caught:
        binding.check_availability("sku-gold", 0)
    assert caught.value.status_code == 422


def test_skus_with_url_characters_travel_unchanged(binding: Inventory) -> None:
    # A "/" is the one character a path parameter cannot carry over HTTP (the server
    # decodes %2F before routing), so SKUs are tested with every other special one.
    sku = "box 10?a#b&c%d+e"
    binding.set_stock(sku, StockLevel(quantity=4))
    assert binding.get_stock(sku).on_hand == 4

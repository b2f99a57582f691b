"""Phone number parsing and the cleaning of verified userInfo."""

from __future__ import annotations

import json

import pytest

from wxauth.core.phone import parse_phone_info
from wxauth.core.proof import SignedData, verified_profile
from wxauth.errors import InvalidRequest, InvalidSignature, WeChatError
from wxauth.wechat.crypto import raw_data_signature

KEY = "HyVFkGl5F5OQWJZZaNzBBg=="


@pytest.mark.parametrize("country", ["86", 86])
def test_phone_info_to_e164(country: object) -> None:
    phone = parse_phone_info(
        {"phoneNumber": "13580006666", "purePhoneNumber": "13580006666", "countryCode": country}
    )
    assert (phone.phone_number, phone.pure_phone_number, phone.country_code) == (
        "+8613580006666",
        "13580006666",
        "86",
    )
    assert "13580006666" not in repr(phone)


@pytest.mark.parametrize(
    "info",
    [
        {"purePhoneNumber": "13580006666"},
        {"purePhoneNumber": "1358000666x", "countryCode": "86"},
        {"purePhoneNumber": "1" * 15, "countryCode": "86"},
        {"purePhoneNumber": "123", "countryCode": "86"},
        {"purePhoneNumber": "13580006666", "countryCode": "+86"},
    ],
)
def test_bad_phone_info(info: dict[str, object]) -> None:
    with pytest.raises(WeChatError):
        parse_phone_info(info)
    with pytest.raises(InvalidRequest):
        parse_phone_info(info, error=InvalidRequest)


def signed(info: object) -> SignedData:
    raw = json.dumps(info, ensure_ascii=False)
    return SignedData(raw, raw_data_signature(raw, KEY))


def test_verified_profile_drops_unfit_text() -> None:
    info = {
        "nickName": "x" * 65,
        "city": "bad\x00city",
        "country": "CN",
        "avatarUrl": "javascript:alert(1)",
        "gender": 2,
    }
    update = verified_profile(signed(info), KEY, appid="wx", openid="o")
    assert update.nickname is None and update.city is None and update.avatar_url is None
    assert (update.country, update.gender) == ("CN", 2)


def test_signed_data_must_verify_and_be_an_object() -> None:
    good = signed({"nickName": "Band"})
    with pytest.raises(InvalidSignature):
        verified_profile(SignedData(good.raw_data, "0" * 40), KEY, appid="wx", openid="o")
    with pytest.raises(InvalidRequest):
        verified_profile(signed([1, 2]), KEY, appid="wx", openid="o")

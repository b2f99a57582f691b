"""Request bodies for verified user data: proofs (rawData / encryptedData) and phone numbers."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from wxauth.core.proof import EncryptedData, Proof, SignedData

Base64 = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/=\s]*$")]


class ProofFields(BaseModel):
    """``rawData`` + ``signature`` or ``encryptedData`` + ``iv`` (snake_case accepted too)."""

    raw_data: Annotated[str, Field(min_length=2, max_length=8192)] | None = Field(
        None, validation_alias=AliasChoices("rawData", "raw_data")
    )
    signature: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    encrypted_data: Annotated[Base64, Field(min_length=1, max_length=16384)] | None = Field(
        None, validation_alias=AliasChoices("encryptedData", "encrypted_data")
    )
    iv: Annotated[Base64, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        if (self.raw_data is None) != (self.signature is None):
            raise ValueError("rawData and signature go together")
        if (self.encrypted_data is None) != (self.iv is None):
            raise ValueError("encryptedData and iv go together")
        if self.raw_data is not None and self.encrypted_data is not None:
            raise ValueError("send rawData+signature or encryptedData+iv, not both")
        return self

    def proof(self) -> Proof | None:
        if self.raw_data is not None and self.signature is not None:
            return SignedData(self.raw_data, self.signature)
        if self.encrypted_data is not None and self.iv is not None:
            return EncryptedData(self.encrypted_data, self.iv)
        return None


class PhoneRequest(BaseModel):
    """``{"code"}`` from the getPhoneNumber button, or its older ``encryptedData`` + ``iv``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    code: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")] | None = (
        None
    )
    encrypted_data: Annotated[Base64, Field(min_length=1, max_length=16384)] | None = Field(
        None, validation_alias=AliasChoices("encryptedData", "encrypted_data")
    )
    iv: Annotated[Base64, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        encrypted = self.encrypted_data is not None or self.iv is not None
        if (self.code is None) == (not encrypted):
            raise ValueError('send either "code" or "encryptedData" and "iv"')
        if encrypted and (self.encrypted_data is None or self.iv is None):
            raise ValueError("encryptedData and iv go together")
        return self


class PhoneResponse(BaseModel):
    phone_number: str
    pure_phone_number: str
    country_code: str

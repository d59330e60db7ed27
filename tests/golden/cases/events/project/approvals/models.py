from dataclasses import dataclass

from pydantic import BaseModel
from typing_extensions import TypedDict


class Applicant(BaseModel):
    email: str


class Approval(BaseModel):
    approved: bool
    reviewer: str


@dataclass
class Documents:
    pages: int


class Note(TypedDict):
    text: str

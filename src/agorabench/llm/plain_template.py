"""The fixed prompt format for models without a chat template (pretrained base models).

Installed as the tokenizer's chat template when a base model is evaluated, and (issue 5) when a
base model is fine-tuned, so that a student is trained and evaluated with the same format.
An Alpaca-style layout: a base model has seen such text in pretraining, and `### Instruction:` is a
natural stop sequence, which matters because a base model never emits its end token on its own.
"""

from __future__ import annotations

# Newlines live inside {{ }} expressions: Jinja's whitespace control ({%- -%}) strips literal text around
# tags, and an earlier version lost every newline that way ("Hi### Response:"). Renders as
#   ### Instruction:\n{user}\n\n### Response:\n{assistant}<eos>
PLAIN_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}"
    "{%- elif message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}"
    "{%- else %}{{ '### Response:\\n' + message['content'] + eos_token }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '### Response:\\n' }}{%- endif %}"
)

# Where a base model starts inventing the next turn.
PLAIN_STOPS = ("### Instruction:",)

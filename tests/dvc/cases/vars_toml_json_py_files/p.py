EPOCHS = 3


class Config:
    batch = 32
